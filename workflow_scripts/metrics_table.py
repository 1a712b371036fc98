"""Rule metrics_table: the metrics of every run made so far in one CSV (DuckDB), for comparing runs.

Command line::

    python -m workflow_scripts.metrics_table --metrics results/demo/metrics.json ... --out results/metrics.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from slamming.logs import run_stage
from slamming.reporting import table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    table(args.metrics, args.out)
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    run_stage(main)
