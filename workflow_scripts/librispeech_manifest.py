"""Rule librispeech_manifest: LibriSpeech's manifest from its unpacked official archives (``slamming.data.corpora``):
the train subsets are the train split, dev-clean and dev-other the valid split, as the paper.

Command line::

    python -m workflow_scripts.librispeech_manifest --train resources/sources/librispeech_train_clean_100 ... \\
        --valid resources/sources/librispeech_dev_clean ... \\
        --out results/corpora/librispeech/manifest.parquet --rejected-out results/corpora/librispeech/rejected.parquet
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.data.corpora import librispeech
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import write_manifest

log = logging.getLogger("librispeech_manifest")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--train", nargs="*", default=[], help="unpacked train subsets")
    parser.add_argument("--valid", nargs="*", default=[], help="unpacked dev subsets")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows, rejected = librispeech({"train": [Path(p) for p in args.train], "valid": [Path(p) for p in args.valid]})
    write_manifest(rows, rejected, args.out, args.rejected_out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
