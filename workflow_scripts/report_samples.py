"""Rule report_samples: a few generated prompt-and-continuation files, for ``snakemake --report``.

Command line::

    python -m workflow_scripts.report_samples --manifest results/demo/generation/audio.parquet --count 3 \\
        --out-dir results/demo/report/samples
"""

from __future__ import annotations

import logging

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.evaluation.reporting import copy_samples

log = logging.getLogger("report_samples")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    copy_samples(args.manifest, args.count, args.out_dir)
    return 0


if __name__ == "__main__":
    run_stage(main)
