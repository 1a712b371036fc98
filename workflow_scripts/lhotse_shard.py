"""Rule lhotse_shard: one shard of a lhotse-prepared corpus's segments, each cut out of its recording with
lhotse's audio loading into a 16 kHz FLAC file (``slamming.data.lhotse_corpora.cut_shard``): a manifest
shard and its rejected table, in which every segment that could not be read or cut is listed with the
reason. No audio checks are applied here: each row carries the facts they read.

Command line::

    python -m workflow_scripts.lhotse_shard --recordings results/corpora/tedlium/lhotse/recordings.jsonl.gz \\
        --supervisions results/corpora/tedlium/lhotse/supervisions.jsonl.gz --settings '{"recipe": "tedlium", ...}' \\
        --shard 0 --shards 16 --audio-dir results/corpora/tedlium/audio/0 \\
        --out results/corpora/tedlium/shards/0.parquet --rejected-out results/corpora/tedlium/shards/0.rejected.parquet
"""

from __future__ import annotations

import logging
from pathlib import Path

from slamming.data.lhotse_corpora import cut_shard, use_audio_backend
from slamming.data.manifests import write_manifest
from slamming.logs import json_argument, run_stage, setup_logging, stage_parser

log = logging.getLogger("lhotse_shard")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--recordings", required=True)
    parser.add_argument("--supervisions", required=True)
    parser.add_argument("--settings", required=True, type=json_argument, help="recipe and audio_backend, as JSON")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rejected-out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    use_audio_backend(args.settings["audio_backend"])
    rows, rejected, stats = cut_shard(Path(args.recordings), Path(args.supervisions), args.shard, args.shards,
                                      Path(args.audio_dir), source=args.settings["recipe"])
    log.info("shard %d of %d: %d segments, %.1f h of audio cut", args.shard, args.shards, stats["segments"], stats["seconds"] / 3600)
    write_manifest(rows, rejected, args.out, args.rejected_out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
