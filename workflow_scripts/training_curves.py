"""Rule training_curves: training and validation losses against training time, one panel per training
stage, as SVG for ``snakemake --report``.

Command line::

    python -m workflow_scripts.training_curves --logs results/models/demo/pretrained/training_log.csv \\
        results/models/demo/dpo/training_log.csv --names pretrained dpo --out results/demo/report/training_curves.svg
"""

from __future__ import annotations

import logging

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.evaluation.reporting import curves

log = logging.getLogger("training_curves")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--logs", nargs="+", required=True)
    parser.add_argument("--names", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    curves(args.logs, args.names, args.out)
    return 0


if __name__ == "__main__":
    run_stage(main)
