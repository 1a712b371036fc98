"""Rule average_over_seeds: each benchmark pair's outcome averaged over the runs of a recipe's seeds
(``slamming.evaluation.seeds``), the table results/comparisons.csv compares as <recipe>/seeds.

Command line::

    python -m workflow_scripts.average_over_seeds --tables results/demo/eval/sblimp.parquet results/demo_seed1/eval/sblimp.parquet \\
        --seeds 0 1 --out results/demo/seeds/sblimp.parquet
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.parquet as pq

from slamming.artifacts import read_parquet
from slamming.evaluation.seeds import averaged_pairs
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("average_over_seeds")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--tables", nargs="+", required=True, help="each seed's per-pair table, in the order of --seeds")
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows, not_shared = averaged_pairs({seed: read_parquet(table).to_pylist() for seed, table in zip(args.seeds, args.tables)})
    pq.write_table(pa.Table.from_pylist(rows), args.out)
    log.info("%d pairs averaged over seeds %s; %d pairs not scored by every seed, left out", len(rows), args.seeds, not_shared)
    return 0


if __name__ == "__main__":
    run_stage(main)
