"""Rule score_likelihood: a likelihood benchmark's accuracy (sBLIMP, sStoryCloze, tStoryCloze, SALMon), as
the paper's official code scores it: each utterance ``BOS units EOS``, the mean log-probability of every
token after BOS; a pair counts 1 when the positive scores higher, 0.5 on a tie (``slamming.evaluation.likelihood``).

Command line::

    python -m workflow_scripts.score_likelihood --model results/models/demo/dpo --units .../units.parquet \\
        --pairs pairs.parquet --benchmark sstorycloze --out-table sstorycloze.parquet --out-json sstorycloze.json \\
        --out-submission sstorycloze_zerospeech.txt
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from slamming.artifacts import load_causal_lm
from slamming.evaluation.likelihood import score_benchmark, zerospeech_submission
from slamming.logs import run_stage, setup_stage, stage_parser
from slamming.training.speech_lm import load_vocabulary

log = logging.getLogger("score_likelihood")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--units", required=True, help="units table of the benchmark's corpus")
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--official", action="store_true", help="a published benchmark: a pair without units stops with an error")
    parser.add_argument("--batch-tokens", type=int, default=16384, help="padded tokens per batch")
    parser.add_argument("--out-table", required=True)
    parser.add_argument("--out-json", required=True)
    parser.add_argument("--out-submission", help="the per-utterance scores as a ZeroSpeech 2021 submission file")
    args = parser.parse_args(argv)
    setup_stage(args.log_file)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_causal_lm(args.model, dtype=torch.float32).to(device).eval()
    rows, summary = score_benchmark(model, load_vocabulary(args.model), args.pairs, args.units, args.benchmark, args.official,
                                    args.batch_tokens, device, log)
    summary["model"] = args.model
    pq.write_table(pa.Table.from_pylist(rows), args.out_table)
    Path(args.out_json).write_text(json.dumps(summary, indent=2) + "\n")
    if args.out_submission:
        Path(args.out_submission).write_text(zerospeech_submission(rows))
    log.info("%s: accuracy %.4f (mean log-likelihood; %.4f with the sum) over %d pairs, %d left out", args.benchmark,
             summary["accuracy_mean"] or 0, summary["accuracy_sum"] or 0, summary["pairs"], summary["pairs_left_out"])
    return 0


if __name__ == "__main__":
    run_stage(main)
