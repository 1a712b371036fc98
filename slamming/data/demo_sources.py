"""The demo's stand-ins for the full recipe's external data, in the very layouts the full recipe reads.

The demo speaks its own text (``demo_text``, ``synthesis``); these builders lay that audio out as the
paper's data sets arrive, so that the demo goes through the same stages - VAD chunking of long
recordings, hub Parquet with audio, benchmarks paired from their official files:

* ``librilight``: stories joined, with silences between them, into recordings of about
  ``recording_minutes`` each, in Libri-Light's ``small/<speaker>/<book>/<file>.flac`` with the per-file
  JSON metadata;
* ``hub_audio``: Parquet shards in the Hugging Face ``datasets.Audio`` schema (an ``audio`` struct of
  the encoded file's bytes and path, and ``text``), named ``data/<split>-0000i-of-0000n.parquet`` as on
  the hub (sTinyStories);
* ``slm21``: ZeroSpeech 2021's sLM21 layout for sBLIMP: ``syntactic/dev/<random name>.wav`` and
  ``gold.csv`` (filename, id, voice, type, subtype, correct, transcription);
* ``storycloze``: spoken StoryCloze's layout: ``<n>_correct.wav`` and ``<n>_incorrect.wav``, each the
  story's spoken prefix, a short pause and an ending (spoken once and reused: each benchmark speaks
  only what it needs), with the text beside each file;
* ``cross_modal``: cross-modal StoryCloze's layout: ``<n>_mutual``, ``<n>_correct`` and ``<n>_incorrect``,
  each as ``.wav`` and ``.txt`` - the story's beginning and its two endings apart.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from slamming.artifacts import read_parquet
from slamming.data.audio import read_audio

SAMPLE_RATE = 16000
LAYOUTS = ("librilight", "hub_audio", "slm21", "storycloze", "cross_modal")
# The speaker named in the demo's gold.csv (its voice column): the demo's one Piper voice.
SLM21_VOICE = "Joe"


def _rows(manifest: str | Path, split: str | None = None, part: int = 0, parts: int = 1) -> list[dict]:
    """Manifest rows (of one split), every ``parts``-th from ``part``, in manifest order."""
    rows = [r for r in read_parquet(manifest).to_pylist() if split is None or r["split"] == split]
    return rows[part::parts]


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def librilight(manifest: str | Path, out: Path, settings: dict) -> dict:
    """Recordings of several stories each with silences between them, and their JSON metadata."""
    rows = _rows(manifest, settings.get("split"), settings["part"], settings["parts"])  # no split: all
    pause, target = settings["pause_seconds"], settings["recording_minutes"] * 60
    recordings, current, length = [], [], 0.0
    for row in rows:
        current.append(row)
        length += row["duration"] + pause
        if length >= target:
            recordings.append(current)
            current, length = [], 0.0
    if current:
        recordings.append(current)
    written = []
    for k, stories in enumerate(recordings):
        pieces, activity, position = [_silence(pause)], [], pause
        for row in stories:
            wave = read_audio(row["path"], SAMPLE_RATE)
            activity.append([round(position, 2), round(position + len(wave) / SAMPLE_RATE, 2)])
            pieces += [wave, _silence(pause)]
            position += len(wave) / SAMPLE_RATE + pause
        path = out / "small" / "1000" / f"demo_book_{k:02d}_64kb_mp3" / f"{k:02d}_demo_64kb.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.concatenate(pieces), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        path.with_suffix(".json").write_text(json.dumps({"speaker": "1000", "file_length_sec": round(position, 2),
                                                         "voice_activity": activity, "book_meta": {"id": f"demo_{k}"}}))
        written.append({"file": str(path.relative_to(out)), "seconds": round(position, 1), "stories": len(stories)})
    return {"recordings": written}


def hub_audio(manifest: str | Path, out: Path, settings: dict) -> dict:
    """Parquet shards with the encoded audio and the text, one set per split."""
    written = {}
    for ours, split in settings["splits"].items():  # our split: the hub's name for it, and which of its rows
        theirs = split["as"]
        rows = _rows(manifest, ours, split["part"], split["parts"])
        shards = max(1, min(settings["shards"], len(rows)))
        for shard in range(shards):
            chunk = rows[shard::shards]
            table = pa.table({"audio": [{"bytes": Path(r["path"]).read_bytes(), "path": Path(r["path"]).name} for r in chunk],
                              "text": [r["text"] for r in chunk]})
            path = out / "data" / f"{theirs}-{shard:05d}-of-{shards:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
        written[theirs] = len(rows)
    return {"rows": written}


def _wav_bytes(wave: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def slm21(manifest: str | Path, table: str | Path, out: Path, settings: dict) -> dict:
    """sBLIMP's layout: files under random-looking names, pairs told only by gold.csv."""
    audio = {r["id"]: r["path"] for r in read_parquet(manifest).to_pylist()}
    folder = out / "syntactic" / "dev"
    folder.mkdir(parents=True, exist_ok=True)
    lines, missing = [], []
    for n, item in enumerate(read_parquet(table).to_pylist(), 1):
        for side, correct in (("good", 1), ("bad", 0)):
            utterance = f"{item['id']}_{side}"
            if utterance not in audio:
                missing.append(utterance)  # its synthesis was rejected: the pair is left out, and counted
                continue
            name = hashlib.sha1(utterance.encode()).hexdigest()[:11]
            (folder / f"{name}.wav").write_bytes(_wav_bytes(read_audio(audio[utterance], SAMPLE_RATE)))
            lines.append({"filename": name, "id": n, "voice": SLM21_VOICE, "type": item["phenomenon"],
                          "subtype": item["phenomenon"], "correct": correct, "transcription": item[side]})
    with open(folder / "gold.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["filename", "id", "voice", "type", "subtype", "correct", "transcription"])
        writer.writeheader()
        writer.writerows(sorted(lines, key=lambda line: line["filename"]))  # no order to lean on
    return {"files": len(lines), "without_audio": missing}


def storycloze(manifest: str | Path, table: str | Path, out: Path, settings: dict) -> dict:
    """Spoken StoryCloze's layout: <n>_correct and <n>_incorrect, each a prefix and an ending, with text."""
    audio = {r["id"]: r["path"] for r in read_parquet(manifest).to_pylist()}
    out.mkdir(parents=True, exist_ok=True)
    pause, negative = _silence(settings["pause_seconds"]), settings["negative"]
    written, missing = 0, []
    for n, item in enumerate(read_parquet(table).to_pylist(), 1):
        for side, part in (("correct", "ending"), ("incorrect", negative)):
            # A side whose audio was not made (its synthesis rejected) is not written: pairing then
            # finds its pair incomplete, and counts it as left out.
            lost = [u for u in (f"{item['id']}_prefix", f"{item['id']}_{part}") if u not in audio]
            if lost:
                missing += lost
                continue
            wave = np.concatenate([read_audio(audio[f"{item['id']}_prefix"], SAMPLE_RATE), pause,
                                   read_audio(audio[f"{item['id']}_{part}"], SAMPLE_RATE)])
            sf.write(out / f"{n}_{side}.wav", wave, SAMPLE_RATE, subtype="PCM_16")
            (out / f"{n}_{side}.txt").write_text(f"{item['prefix']} {item[part]}\n")
            written += 1
    return {"files": written, "without_audio": sorted(set(missing))}


def cross_modal(manifest: str | Path, table: str | Path, out: Path, settings: dict) -> dict:
    """Cross-modal StoryCloze's layout: <n>_mutual (the prefix), <n>_correct (the ending) and <n>_incorrect (the
    ``negative`` ending), each spoken (.wav, the part as synthesised) and written (.txt). A story missing a part's
    audio is not written, and is counted."""
    audio = {r["id"]: r["path"] for r in read_parquet(manifest).to_pylist()}
    out.mkdir(parents=True, exist_ok=True)
    written, missing = 0, []
    for n, item in enumerate(read_parquet(table).to_pylist(), 1):
        parts = {"mutual": "prefix", "correct": "ending", "incorrect": settings["negative"]}
        lost = [f"{item['id']}_{part}" for part in parts.values() if f"{item['id']}_{part}" not in audio]
        if lost:
            missing += lost
            continue
        for name, part in parts.items():
            sf.write(out / f"{n}_{name}.wav", read_audio(audio[f"{item['id']}_{part}"], SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16")
            (out / f"{n}_{name}.txt").write_text(f"{item[part]}\n")
        written += 1
    return {"stories": written, "without_audio": sorted(set(missing))}


def build(layout: str, manifest: str | Path, table: str | Path | None, out: Path, settings: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    if layout == "librilight":
        return librilight(manifest, out, settings)
    if layout == "hub_audio":
        return hub_audio(manifest, out, settings)
    if layout == "slm21":
        return slm21(manifest, table, out, settings)
    if layout == "storycloze":
        return storycloze(manifest, table, out, settings)
    if layout == "cross_modal":
        return cross_modal(manifest, table, out, settings)
    raise ValueError(f"unknown demo layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
