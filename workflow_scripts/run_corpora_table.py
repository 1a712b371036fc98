"""Rule run_corpora_table: a run's corpora in one table, hours, utterances, words and tokens per corpus
and split (the paper's Table 8).

Command line::

    python -m workflow_scripts.run_corpora_table --stats results/corpora/a/stats.csv ... \\
        --tokens results/units/t/a/stats.csv ... --out results/demo/corpora.csv
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.stats import stack_tables

log = logging.getLogger("run_corpora_table")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--stats", nargs="+", required=True, help="the corpora's stats.csv files")
    parser.add_argument("--tokens", nargs="*", default=[], help="their units' stats.csv files: adds a tokens column")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    stack_tables(args.stats, args.out, args.tokens)
    log.info("%s:\n%s", args.out, Path(args.out).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
