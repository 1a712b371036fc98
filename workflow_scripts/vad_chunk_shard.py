"""Rule vad_chunk_shard: cut one shard of long recordings (Libri-Light) into speech segments
(``slamming.data.vad``): by each recording's own ``voice_activity`` as Libri-Light's cut_by_vad.py does
(method official), or by Silero VAD (method silero, and the fallback for a recording without
voice_activity), writing 16 kHz FLAC chunks, a manifest shard and its rejected table. No audio checks
are applied here: each chunk's row carries its clipped_fraction and silent for the corpus's checks.

Command line::

    python -m workflow_scripts.vad_chunk_shard --manifest results/corpora/librilight/recordings.parquet --shard 0 \\
        --shards 64 --vad resources/sources/silero_vad --settings '{"method": "official", "target_seconds": 60, ...}' \\
        --out results/corpora/librilight/shards/0.parquet --audio-dir results/corpora/librilight/audio/0
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from slamming.artifacts import read_parquet
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import MANIFEST_SCHEMA, REJECTED_SCHEMA, rejected_path, write_table
from slamming.data.synthesis import shard_slice
from slamming.data.vad import VadSettings, chunk_shard, load_vad

log = logging.getLogger("vad_chunk_shard")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--manifest", required=True, help="manifest of the long recordings")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--vad", required=True, help="folder holding silero_vad.onnx (loaded only if a recording needs it)")
    parser.add_argument("--settings", required=True, help="the corpus's vad section as JSON")
    parser.add_argument("--out", required=True)
    parser.add_argument("--audio-dir", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows = read_parquet(args.manifest).to_pylist()
    rows = rows[shard_slice(len(rows), args.shard, args.shards)]
    settings = VadSettings.from_config(json.loads(args.settings))
    chunks, rejected, stats = chunk_shard(rows, settings, Path(args.audio_dir), lambda: load_vad(args.vad))
    write_table(rejected, REJECTED_SCHEMA, rejected_path(args.out))
    write_table(chunks, MANIFEST_SCHEMA, args.out)
    log.info("%s cut: %d files, %.0f s: %d chunks, %.0f s of speech kept (%.1f%%), %d Silero segments too short, "
             "%d files or chunks rejected", settings.method, stats["files"], stats["input_seconds"], len(chunks),
             stats["speech_seconds"], 100 * stats["speech_seconds"] / max(stats["input_seconds"], 1e-9), stats["short_segments"],
             len(rejected))
    if stats["recordings_without_voice_activity"]:
        log.warning("recordings without voice_activity, cut by Silero VAD instead: %d", stats["recordings_without_voice_activity"])
    for row in rejected:
        log.warning("rejected %s: %s", row["id"], row["reason"])
    return 0


if __name__ == "__main__":
    run_stage(main)
