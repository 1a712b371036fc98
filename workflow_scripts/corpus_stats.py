"""Rule corpus_stats: one corpus's hours, utterances and words per split, and how many files it rejected
(DuckDB over its manifest; the shape of the paper's Table 8).

Command line::

    python -m workflow_scripts.corpus_stats --corpus demo_stories --manifest results/corpora/demo_stories/manifest.parquet \\
        --rejected results/corpora/demo_stories/rejected.parquet --out results/corpora/demo_stories/stats.csv
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.stats import corpus_stats

log = logging.getLogger("corpus_stats")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--rejected", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    corpus_stats(args.corpus, args.manifest, args.rejected, args.out)
    log.info("%s:\n%s", args.out, Path(args.out).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
