"""Rule merge_corpus_shards: the manifest shards of a corpus made in shards (synthesis, VAD, hub Parquet)
into one manifest, and their rejected tables into one.

Command line::

    python -m workflow_scripts.merge_corpus_shards --shards results/corpora/c/shards/0.parquet ... \\
        --out results/corpora/c/manifest.parquet --rejected-out results/corpora/c/rejected.parquet
"""

from __future__ import annotations

import logging

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import MANIFEST_SCHEMA, REJECTED_SCHEMA, merge_shards, rejected_path

log = logging.getLogger("merge_corpus_shards")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--shards", nargs="+", required=True, help="shard manifests (their rejected tables sit beside them)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    parser.add_argument("--rejected-before", nargs="*", default=[],
                        help="rejected tables of the stage before the shards (Libri-Light's unreadable recordings)")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    n = merge_shards(args.shards, args.out, MANIFEST_SCHEMA)
    m = merge_shards(args.rejected_before + [rejected_path(p) for p in args.shards], args.rejected_out, REJECTED_SCHEMA,
                     unique_ids=False)
    log.info("%s: %d utterances, %d rejected", args.out, n, m)
    return 0


if __name__ == "__main__":
    run_stage(main)
