"""Rule merge_units: a corpus's units shards into one units table, and their rejected tables into one.

Command line::

    python -m workflow_scripts.merge_units --shards results/units/t/c/shards/0.parquet ... \\
        --out results/units/t/c/units.parquet --rejected-out results/units/t/c/rejected.parquet
"""

from __future__ import annotations

import logging

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import REJECTED_SCHEMA, merge_shards, rejected_path
from slamming.units.vocabulary import merge_units

log = logging.getLogger("merge_units")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--shards", nargs="+", required=True, help="units shards (their rejected tables sit beside them)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    n = merge_units(args.shards, args.out)
    m = merge_shards([rejected_path(p) for p in args.shards], args.rejected_out, REJECTED_SCHEMA, unique_ids=False)
    log.info("%s: %d utterances, %d rejected", args.out, n, m)
    return 0


if __name__ == "__main__":
    run_stage(main)
