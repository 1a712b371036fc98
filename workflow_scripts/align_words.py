"""Rule align_words: a shard of a corpus's words with their times by an ASR model's word timestamps
(``slamming.evaluation.asr``: faster-whisper's, or transformers' pipeline for the full recipe's Whisper
large-v3-turbo, as the paper aligns real speech). A row per utterance of the shard: its words (with the
leading spaces Whisper writes), or why it has none (unreadable audio, no words heard).

Command line::

    python -m workflow_scripts.align_words --manifest results/corpora/librispeech/manifest.parquet --shard 0 --shards 8 \\
        --spec '{"backend": "transformers", ...}' --model resources/sources/whisper_large_v3_turbo \\
        --out results/alignments/whisper_large_v3_turbo/librispeech/shards/0.parquet
"""

from __future__ import annotations

import json
import logging

import pyarrow as pa
from tqdm import tqdm

from slamming.artifacts import read_parquet
from slamming.data.alignment import WORDS_SCHEMA, words_row
from slamming.data.audio import read_audio
from slamming.data.manifests import write_arrow
from slamming.evaluation.asr import load_asr
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.units.extraction import shard_slice

log = logging.getLogger("align_words")
SAMPLE_RATE = 16000  # Whisper's


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--spec", required=True, help="the asr_models entry as JSON")
    parser.add_argument("--model", required=True, help="the model's folder")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    rows = read_parquet(args.manifest, columns=["id", "path"]).to_pylist()
    rows = rows[shard_slice(len(rows), args.shard, args.shards)]
    asr = load_asr(json.loads(args.spec), args.model)
    out = []
    for row in tqdm(rows, desc="align", unit="utt", mininterval=10):
        try:
            wave = read_audio(row["path"], SAMPLE_RATE)
        except Exception as error:  # noqa: BLE001 - recorded with the utterance, never dropped
            out.append(words_row(row["id"], None, f"unreadable audio: {error}"))
            continue
        words = asr.words([wave])[0]
        out.append(words_row(row["id"], words if words else None, None if words else "no words heard"))
    write_arrow(pa.Table.from_pylist(out, schema=WORDS_SCHEMA), args.out)
    log.info("%s shard %d/%d: %d utterances, %d with words (%d words)", args.manifest, args.shard, args.shards, len(out),
             sum(1 for r in out if r["words"]), sum(len(r["words"]) for r in out if r["words"]))
    return 0


if __name__ == "__main__":
    run_stage(main)
