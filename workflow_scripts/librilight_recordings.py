"""Rule librilight_recordings: one row per readable Libri-Light recording of the unpacked subsets,
whatever its length (the audio checks apply to its VAD chunks); a seeded 1 % goes to the valid split.

Command line::

    python -m workflow_scripts.librilight_recordings --roots resources/sources/librilight_small ... \\
        --valid-fraction 0.01 --seed 0 --glob '**/*.flac' --out results/corpora/librilight/recordings.parquet \\
        --rejected-out results/corpora/librilight/recordings.rejected.parquet
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.data.corpora import librilight
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import write_manifest

log = logging.getLogger("librilight_recordings")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--roots", nargs="+", required=True, help="unpacked subsets (small, medium, large)")
    parser.add_argument("--valid-fraction", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--glob", required=True, help="which recordings, relative to each root (the corpus's glob)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows, rejected = librilight([Path(p) for p in args.roots], args.valid_fraction, args.seed, args.glob)
    write_manifest(rows, rejected, args.out, args.rejected_out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
