"""Rule train_demo_text_lm: the demo's text LM (``slamming.training.text_lm``), a byte-level BPE tokenizer and a
small Qwen2-architecture model trained on the demo stories by the same engine as the speech LM. It
stands in for Qwen2.5-0.5B (the base of the demo's speech LM) and for Llama-3.2-1B (the demo's GenPPL
scorer).

Command line::

    python -m workflow_scripts.train_demo_text_lm --stories results/text/demo/stories_utterances.parquet \\
        --settings '{"vocab_size": 512, ...}' --seed 0 --out results/models/demo_text_lm
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.artifacts import read_parquet
from slamming.workflow.schema import with_defaults
from slamming.logs import run_stage, setup_stage, stage_parser
from slamming.training.text_lm import train_text_lm

log = logging.getLogger("train_demo_text_lm")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--stories", required=True, help="text table with id, text, split (train and valid)")
    parser.add_argument("--settings", required=True, help="the demo_text_lm config section as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    setup_stage(args.log_file, args.threads, history=out.with_name(out.name + ".work") / "attempts.log")
    rows = read_parquet(args.stories, columns=["text", "split"]).to_pylist()
    texts = {split: [r["text"] for r in rows if r["split"] == split] for split in ("train", "valid")}
    summary = train_text_lm(texts, with_defaults("demo_text_lm", json.loads(args.settings)), args.seed, out, log)
    log.info("text LM: %s parameters, %d steps, final validation loss %.3f", f"{summary['parameters']:,}",
             summary["steps"], summary["valid_loss"])
    return 0


if __name__ == "__main__":
    run_stage(main)
