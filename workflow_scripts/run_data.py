"""Rule run_data: a run's data in one JSON, its corpora and its packed windows.

Command line::

    python -m workflow_scripts.run_data --corpora results/demo/corpora.csv --packing results/packed/.../packing.json \\
        --out results/demo/data.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.stats import run_data_summary

log = logging.getLogger("run_data")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--corpora", required=True, help="the run's corpora.csv")
    parser.add_argument("--packing", required=True, help="the run's packing.json")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    Path(args.out).write_text(json.dumps(run_data_summary(args.corpora, args.packing), indent=2) + "\n")
    log.info("%s:\n%s", args.out, Path(args.out).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
