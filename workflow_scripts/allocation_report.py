"""Rule allocation_report: what a training job of the run really gets (host, SLURM ids, CPUs, GPUs),
so that an allocation can be checked before a long run.

Command line::

    python -m workflow_scripts.allocation_report --out results/slam_scaled/allocation.json
"""

from __future__ import annotations

import json
import logging

from slamming.training.allocation import describe_allocation, one_line
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("allocation_report")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    allocation = describe_allocation()
    with open(args.out, "w") as f:
        json.dump(allocation, f, indent=2)
    log.info("%s", one_line(allocation))
    return 0


if __name__ == "__main__":
    run_stage(main)
