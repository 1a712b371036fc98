"""Rule transcribe_generations: Whisper transcripts of the vocoded continuations, of the prompts with their
continuations, and of the cut prompts (``slamming.evaluation.asr``), kept as Whisper writes them (see the
asr_models settings). Audio with nothing in it gets an empty transcript, counted by the metrics.

Command line::

    python -m workflow_scripts.transcribe_generations --spec '{"backend": "faster_whisper", "language": "en"}' \\
        --model resources/sources/whisper_tiny_en --manifests results/demo/generation/audio.parquet \\
        results/demo/generation/prompts.parquet --out results/demo/generation/transcripts.parquet
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from slamming.artifacts import read_parquet
from slamming.evaluation.asr import load_asr
from slamming.data.audio import AudioChecks, AudioRejected, read_audio
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("transcribe_generations")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True, help="the model folder")
    parser.add_argument("--spec", required=True, help="the asr_models entry as JSON (backend, language, beam_size, strip)")
    parser.add_argument("--manifests", nargs="+", required=True, help="audio manifests (id, path)")
    parser.add_argument("--out", required=True, help="transcripts table: id, text")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    asr = load_asr(json.loads(args.spec), args.model)
    rows = [r for m in args.manifests for r in read_parquet(m, columns=["id", "path"]).to_pylist()]
    waves = []
    for row in rows:
        try:
            if not row["path"]:
                raise AudioRejected("no audio (nothing was generated)")
            waves.append(read_audio(row["path"], 16000, AudioChecks()))
        except AudioRejected as e:  # silent or empty generated audio: an empty transcript, counted later
            log.warning("%s: %s; transcript left empty", row["id"], e.reason)
            waves.append(np.zeros(0, np.float32))
    texts = asr.transcribe(waves)
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "text": t} for r, t in zip(rows, texts)]), args.out)
    log.info("%d transcripts, %d empty", len(texts), sum(1 for t in texts if not t.strip()))
    return 0


if __name__ == "__main__":
    run_stage(main)
