"""Rule compare_runs: every two runs scored on the same benchmark, compared on the pairs both scored, with a
paired bootstrap over items (``slamming.evaluation.statistics``): results/comparisons.csv.

Command line::

    python -m workflow_scripts.compare_runs --tables results/demo/eval/sblimp.parquet results/slam/eval/sblimp.parquet \\
        --out results/comparisons.csv
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from slamming.evaluation.reporting import comparisons
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.workflow.paths import compared_name

log = logging.getLogger("compare_runs")
COLUMNS = ["benchmark", "run_a", "run_b", "pairs", "pairs_not_shared", "accuracy_a", "accuracy_b", "difference",
           "difference_low", "difference_high", "p_value", "test"]


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--tables", nargs="*", default=[], help="per-pair tables results/<run>/eval/<benchmark>.parquet, and "
                        "results/<recipe>/seeds/<benchmark>.parquet (compared as <recipe>/seeds)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows = comparisons([(compared_name(table), table) for table in args.tables])
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    log.info("%d comparisons of %d tables:\n%s", len(rows), len(args.tables), Path(args.out).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
