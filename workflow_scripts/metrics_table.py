"""Rule metrics_table: the metrics of every run made so far in one CSV (DuckDB), for comparing runs.

Command line::

    python -m workflow_scripts.metrics_table --metrics results/demo/metrics.json ... --out results/metrics.csv
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.evaluation.reporting import table

log = logging.getLogger("metrics_table")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    table(args.metrics, args.out)
    log.info("%s:\n%s", args.out, Path(args.out).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
