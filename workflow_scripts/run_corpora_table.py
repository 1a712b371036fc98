"""Rule run_corpora_table: a run's corpora in one table, hours, utterances, words and tokens per corpus
and split (the paper's Table 8).

Command line::

    python -m workflow_scripts.run_corpora_table --stats results/corpora/a/stats.csv ... \\
        --tokens results/units/t/a/stats.csv ... --out results/demo/corpora.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from slamming.logs import run_stage
from slamming.stats import stack_tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stats", nargs="+", required=True, help="the corpora's stats.csv files")
    parser.add_argument("--tokens", nargs="*", default=[], help="their units' stats.csv files: adds a tokens column")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    stack_tables(args.stats, args.out, args.tokens)
    print(Path(args.out).read_text(), end="")
    return 0


if __name__ == "__main__":
    run_stage(main)
