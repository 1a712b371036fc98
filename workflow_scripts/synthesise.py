"""Speak a text table with TTS voices: one shard of a synthesised corpus.

Reads a table with columns id, text, split; takes its ``shard``-th contiguous slice of ``shards``;
writes one 16-bit mono FLAC per utterance at the corpus's sample rate, a manifest shard and a table
of the utterances that could not be made, with the reason (empty text, an engine error, audio that
fails the audio checks). The rule synthesise_shard runs one shard per job, so ``--cores N`` speaks N
shards at once and a finished shard is never redone.

Determinism: each utterance's voice is drawn from ``seed`` and its id (or its item) alone; each shard's engine is
seeded from ``seed``, the shard and the voice, and speaks its slice in table order. The same text
table, seed and shard count give the same audio.

Command line::

    python -m workflow_scripts.synthesise --text results/text/demo/stories.parquet --shard 0 \\
        --settings '{"synthesise": {...}, "voices": {...}, "audio_checks": {...}}' \\
        --sources resources/sources --corpus demo_stories \\
        --out results/corpora/demo_stories/shards/0.parquet --audio-dir results/corpora/demo_stories/audio/0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from workflow_scripts.audio import AudioChecks, AudioRejected, prepare_audio, write_flac
from workflow_scripts.logs import setup_logging
from workflow_scripts.manifest import MANIFEST_SCHEMA, REJECTED_SCHEMA, rejected_path, write_table

log = logging.getLogger("synthesise")


def shard_slice(n_rows: int, shard: int, shards: int) -> slice:
    """The contiguous rows of ``shard``: sizes differ by at most one."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    return slice(shard * n_rows // shards, (shard + 1) * n_rows // shards)


def voice_for(key: str, voices: list[str], seed: int) -> str:
    """The voice of an utterance, drawn from the seed and its key (its item, else its id) alone."""
    return voices[random.Random(f"{seed}/{key}").randrange(len(voices))] if len(voices) > 1 else voices[0]


def engine_seed(seed: int, shard: int, voice: str) -> int:
    digest = hashlib.sha256(f"{seed}/{shard}/{voice}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def read_text_table(path: str | Path):
    """Rows with id, text, split, and item where the table has it (utterances of one item - the three
    recordings of a preference triple - share its voice)."""
    table = pq.read_table(str(path))
    missing = {"id", "text", "split"} - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: a text table needs columns id, text, split; missing {', '.join(sorted(missing))}")
    return table.select([c for c in ("id", "text", "split", "item") if c in table.column_names]).to_pylist()


def synthesise_shard(rows: list[dict], *, corpus: str, settings: dict, voices: dict, sources: Path,
                     audio_dir: Path, shard: int, threads: int = 1):
    """Speak ``rows``; returns (manifest rows, rejected rows, seconds of audio made)."""
    from tqdm import tqdm

    from workflow_scripts.tts import load_voice

    checks = AudioChecks.from_config(settings["audio_checks"])
    synth = settings["synthesise"]
    audio_dir.mkdir(parents=True, exist_ok=True)
    engines = {}
    manifest, rejected, seconds = [], [], 0.0
    for row in tqdm(rows, desc=f"{corpus} shard {shard}", unit="utt", file=sys.stderr):
        utt_id, text = row["id"], (row["text"] or "").strip()
        voice_name = voice_for(row.get("item") or utt_id, synth["voices"], synth["seed"])
        path = audio_dir / f"{utt_id}.flac"
        source = f"tts:{voice_name}"
        if not text:
            rejected.append({"id": utt_id, "path": str(path), "reason": "empty text", "source": source})
            continue
        if voice_name not in engines:
            spec = voices[voice_name]
            engines[voice_name] = load_voice(spec, sources / spec["model"], engine_seed(synth["seed"], shard, voice_name), threads)
        engine = engines[voice_name]
        try:
            samples = engine.synthesise(text)
            samples = prepare_audio(samples, engine.sample_rate, synth["sample_rate"], checks)
        except AudioRejected as e:
            rejected.append({"id": utt_id, "path": str(path), "reason": e.reason, "source": source})
            continue
        except Exception as e:  # an engine failure on one text must not lose the rest of the shard
            rejected.append({"id": utt_id, "path": str(path), "reason": f"tts failed: {type(e).__name__}: {e}"[:200], "source": source})
            continue
        write_flac(path, samples, synth["sample_rate"])
        duration = len(samples) / synth["sample_rate"]
        seconds += duration
        manifest.append({"id": utt_id, "path": str(path), "duration": duration, "sample_rate": synth["sample_rate"],
                         "num_samples": len(samples), "split": row["split"], "text": text,
                         "source": f"{source}:{engine.name}"})
    return manifest, rejected, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", required=True, help="text table (id, text, split) as Parquet")
    parser.add_argument("--settings", required=True, help="JSON with the corpus's synthesise section, the voices it uses and audio_checks")
    parser.add_argument("--sources", default="resources/sources", help="folder of materialised sources")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--out", required=True, help="manifest shard to write; its rejected table goes beside it")
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)

    settings = json.loads(args.settings)
    rows = read_text_table(args.text)
    rows = rows[shard_slice(len(rows), args.shard, settings["synthesise"]["shards"])]
    start = time.perf_counter()
    manifest, rejected, seconds = synthesise_shard(
        rows, corpus=args.corpus, settings=settings, voices=settings["voices"], sources=Path(args.sources),
        audio_dir=Path(args.audio_dir), shard=args.shard, threads=args.threads)
    elapsed = time.perf_counter() - start
    write_table(rejected, REJECTED_SCHEMA, rejected_path(args.out))
    write_table(manifest, MANIFEST_SCHEMA, args.out)
    log.info("%s shard %d: %d utterances, %.1f s of audio in %.1f s (%.1f s of audio per second), %d rejected",
             args.corpus, args.shard, len(manifest), seconds, elapsed, seconds / max(elapsed, 1e-9), len(rejected))
    for row in rejected:
        log.warning("rejected %s: %s", row["id"], row["reason"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
