"""Rule collect_seeds: a recipe trained under several seeds, results/<recipe>/seeds.json: each metric's mean,
min and max over the seeds (the paper's ± is the distance to them), and each benchmark's accuracy of the
outcomes averaged over seeds with its interval (``slamming.evaluation.seeds``).

Command line::

    python -m workflow_scripts.collect_seeds --recipe demo --seeds 0 1 --metrics results/demo/metrics.json \\
        results/demo_seed1/metrics.json --averaged results/demo/seeds/sblimp.parquet --out results/demo/seeds.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.artifacts import read_json, read_parquet
from slamming.evaluation.seeds import over_seeds
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("collect_seeds")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--metrics", nargs="+", required=True, help="each seed's metrics.json, in the order of --seeds")
    parser.add_argument("--averaged", nargs="*", default=[], help="results/<recipe>/seeds/<benchmark>.parquet")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    summary = over_seeds(args.recipe, {seed: read_json(path) for seed, path in zip(args.seeds, args.metrics)},
                         {Path(path).stem: read_parquet(path).to_pylist() for path in args.averaged})
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    for name, value in summary["metrics"].items():
        log.info("%s: %.4f (min %.4f, max %.4f) over seeds %s", name, value["mean"], value["min"], value["max"], summary["seeds"])
    return 0


if __name__ == "__main__":
    run_stage(main)
