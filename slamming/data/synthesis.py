"""Speak a text table with TTS voices: one shard of a synthesised corpus.

Reads a table with columns id, text, split; takes its ``shard``-th contiguous slice of ``shards``;
writes one 16-bit mono FLAC per utterance at the corpus's sample rate, a manifest shard and a table
of the utterances that could not be made, with the reason (empty text, an engine error, empty or
non-finite audio). Each row carries what the corpus's audio checks look at (the share of clipped
samples, silence); the checks run afterwards (rule apply_audio_checks), so changing one never
speaks a shard again. The rule synthesise_shard runs one shard per job, so ``--cores N`` speaks N
shards at once and a finished shard is never redone.

Determinism: each utterance's voice is drawn from ``seed`` and its id (or its item) alone; each shard's engine is
seeded from ``seed``, the shard and the voice, and speaks its slice in table order. The same text
table, seed and shard count give the same audio.
"""

from __future__ import annotations

import hashlib
import logging
import random
import sys
from pathlib import Path

from slamming.artifacts import read_parquet
from slamming.data.audio import AudioRejected, audio_facts, prepare_audio, write_flac

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
    table = read_parquet(str(path))
    missing = {"id", "text", "split"} - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: a text table needs columns id, text, split; missing {', '.join(sorted(missing))}")
    return table.select([c for c in ("id", "text", "split", "item") if c in table.column_names]).to_pylist()


def synthesise_shard(rows: list[dict], *, corpus: str, settings: dict, voices: dict, sources: Path,
                     audio_dir: Path, shard: int, threads: int = 1):
    """Speak ``rows``; returns (manifest rows, rejected rows, seconds of audio made, word-alignment rows). A
    Piper voice times its own words (``slamming.data.alignment``: the TTS aligner); other voices' speech
    gets no words here, with the reason."""
    from tqdm import tqdm

    from slamming.data.alignment import words_row
    from slamming.data.tts import load_voice

    synth = settings["synthesise"]
    audio_dir.mkdir(parents=True, exist_ok=True)
    engines = {}
    manifest, rejected, seconds, words = [], [], 0.0, []
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
            engines[voice_name] = load_voice(spec, sources / spec["model"], engine_seed(synth["seed"], shard, voice_name), threads,
                                             alignments=spec["backend"] == "piper")
        engine = engines[voice_name]
        try:
            if hasattr(engine, "synthesise_words"):
                samples, timed = engine.synthesise_words(text)
                word_row = words_row(utt_id, timed, "the TTS gave no timing that pairs with the text's words")
            else:
                samples = engine.synthesise(text)
                word_row = words_row(utt_id, None, f"{engine.name} reports no word timing: align its speech with whisper")
            samples = prepare_audio(samples, engine.sample_rate, synth["sample_rate"])
        except AudioRejected as e:
            rejected.append({"id": utt_id, "path": str(path), "reason": e.reason, "source": source})
            continue
        except Exception as e:  # an engine failure on one text must not lose the rest of the shard
            rejected.append({"id": utt_id, "path": str(path), "reason": f"tts failed: {type(e).__name__}: {e}"[:200], "source": source})
            continue
        write_flac(path, samples, synth["sample_rate"])
        words.append(word_row)
        duration = len(samples) / synth["sample_rate"]
        seconds += duration
        manifest.append({"id": utt_id, "path": str(path), "duration": duration, "sample_rate": synth["sample_rate"],
                         "num_samples": len(samples), "split": row["split"], "text": text,
                         "source": f"{source}:{engine.name}", **audio_facts(samples)})
    return manifest, rejected, seconds, words
