"""Rule synthesise_shard: speak one shard of a text table with TTS voices (``slamming.data.synthesis``): a
16-bit mono FLAC per utterance, a manifest shard and the table of utterances that could not be made,
with the reason. The same text table, seed and shard count give the same audio.

Command line::

    python -m workflow_scripts.synthesise_shard --text results/text/demo/stories_utterances.parquet --shard 0 \\
        --settings '{"synthesise": {...}, "voices": {...}}' \\
        --sources resources/sources --corpus demo_stories \\
        --out results/corpora/demo_stories/shards/0.parquet --audio-dir results/corpora/demo_stories/audio/0
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import MANIFEST_SCHEMA, REJECTED_SCHEMA, rejected_path, write_table
from slamming.data.alignment import WORDS_SCHEMA
from slamming.data.synthesis import read_text_table, shard_slice, synthesise_shard

log = logging.getLogger("synthesise_shard")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--text", required=True, help="text table (id, text, split) as Parquet")
    parser.add_argument("--settings", required=True, help="JSON with the corpus's synthesise section and the voices it uses")
    parser.add_argument("--sources", default="resources/sources", help="folder of materialised sources")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--out", required=True, help="manifest shard to write; its rejected table goes beside it")
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--words-out", required=True, help="the shard's word alignments by the TTS itself (Piper's timing)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)

    settings = json.loads(args.settings)
    rows = read_text_table(args.text)
    rows = rows[shard_slice(len(rows), args.shard, settings["synthesise"]["shards"])]
    start = time.perf_counter()
    manifest, rejected, seconds, words = synthesise_shard(
        rows, corpus=args.corpus, settings=settings, voices=settings["voices"], sources=Path(args.sources),
        audio_dir=Path(args.audio_dir), shard=args.shard, threads=args.threads)
    elapsed = time.perf_counter() - start
    write_table(rejected, REJECTED_SCHEMA, rejected_path(args.out))
    write_table(manifest, MANIFEST_SCHEMA, args.out)
    write_table(words, WORDS_SCHEMA, args.words_out)
    log.info("%s shard %d: %d utterances, %.1f s of audio in %.1f s (%.1f s of audio per second), %d rejected; %d with their "
             "words timed by the TTS", args.corpus, args.shard, len(manifest), seconds, elapsed, seconds / max(elapsed, 1e-9),
             len(rejected), sum(1 for w in words if w["words"] is not None))
    for row in rejected:
        log.warning("rejected %s: %s", row["id"], row["reason"])
    return 0


if __name__ == "__main__":
    run_stage(main)
