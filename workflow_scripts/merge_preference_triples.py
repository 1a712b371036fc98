"""Rule merge_preference_triples: the preference triples of a hub corpus's shards into one table (id,
prompt, chosen, rejected texts) for DPO.

Command line::

    python -m workflow_scripts.merge_preference_triples --tables results/corpora/spokenswag/shards/0.pairs.parquet ... \\
        --out results/text/spokenswag/pairs.parquet
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.parquet as pq

from slamming.artifacts import read_parquet
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("merge_preference_triples")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--tables", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    table = pa.concat_tables([read_parquet(p) for p in args.tables])
    pq.write_table(table, args.out)
    log.info("%s: %d triples", args.out, table.num_rows)
    return 0


if __name__ == "__main__":
    run_stage(main)
