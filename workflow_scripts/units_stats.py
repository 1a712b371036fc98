"""Rule units_stats: the tokens per split of a corpus's units (units, BOS and EOS: what training sees).

Command line::

    python -m workflow_scripts.units_stats --corpus demo_stories --units results/units/t/demo_stories/units.parquet \\
        --out results/units/t/demo_stories/stats.csv
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.stats import units_stats

log = logging.getLogger("units_stats")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--units", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    units_stats(args.corpus, args.units, args.out)
    log.info("%s:\n%s", args.out, Path(args.out).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
