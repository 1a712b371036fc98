"""Rule text_topline: how a text LM does on the text of a benchmark's pairs - the ceiling a speech LM
that understood the words as text does could reach (``slamming.evaluation.likelihood.text_topline``). The demo's
text LM for the demo; for the full recipe, the base text LM (Qwen2.5-0.5B) on the benchmarks whose
pairs have text (sBLIMP's gold.csv transcriptions).

Command line::

    python -m workflow_scripts.text_topline --model results/models/demo_text_lm \\
        --pairs results/benchmarks/demo_sblimp/sblimp/pairs.parquet --benchmark sblimp --out results/demo/eval/sblimp_text.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from slamming.artifacts import load_causal_lm, read_parquet
from slamming.evaluation.likelihood import text_topline
from slamming.logs import run_stage, setup_stage, stage_parser

log = logging.getLogger("text_topline")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True, help="the text LM (a causal LM folder with its tokenizer)")
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    from transformers import AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = load_causal_lm(args.model, dtype=torch.float32).to(device).eval()
    _, summary = text_topline(model, tokenizer, read_parquet(args.pairs).to_pylist(), args.batch_size, device)
    summary.update(benchmark=args.benchmark, model=args.model)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s text topline: %s over %d pairs with text (%d without)", args.benchmark, summary["accuracy"], summary["pairs"],
             summary["pairs_without_text"])
    return 0


if __name__ == "__main__":
    run_stage(main)
