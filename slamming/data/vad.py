"""Cut long recordings (Libri-Light's hour-long chapters) into speech segments.

Two cuts, chosen by the corpus's ``vad.method``:

* ``official`` (the default): Libri-Light's own voice activity, as its ``data_preparation/cut_by_vad.py``
  applies it. Every recording ``<stem>.flac`` comes with ``<stem>.json``, whose ``voice_activity`` lists
  the speech as [start, end] seconds. The slices ``samples[int(start * 16000):int(end * 16000)]`` are
  stitched, in order, into pieces of about ``target_seconds``: before a slice is added, a piece that
  already holds speech and would pass the target with it is closed and a new one begun; so a slice
  longer than the target is a piece of its own. A piece is its slices joined end to end: the silences
  between them are removed. Nothing is left out for being short. ``target_seconds`` defaults to 60 s,
  the script's command-line default, with which Libri-Light's README runs it (its function ``cut``
  defaults to 30 s). A chunk's ``source`` gives the span from its first slice's start to its last
  slice's end. It is the default because the paper
  says so: "for Libri-light, we apply the official Voice Activity Detection model to remove silences
  and generate smaller audio segments".
* ``silero``: Silero VAD (its ONNX model ships in the ``silero-vad`` package, materialised as the source
  ``silero_vad``) finds the speech regions, which are joined into segments: a segment ends at a pause
  longer than ``max_pause_seconds`` or before it would pass ``max_seconds``, so pauses inside a segment
  stay as they are and long silences are removed. A region longer than ``max_seconds`` is cut at the
  VAD's own split points. Segments shorter than ``min_seconds`` are left out and counted; a recording
  with no segment at all goes to the rejected table ("no speech found").

With ``official``, a recording without a usable ``voice_activity`` (no JSON beside it, no such key, or
not a list of [start, end] seconds with 0 <= start <= end) is cut by Silero VAD with the ``silero``
settings instead, counted (``recordings_without_voice_activity``) and named in the log; Silero is
loaded only when a recording needs it. A ``voice_activity`` that is an empty list says the recording
has no speech: as the official script writes nothing for it, it goes to the rejected table.

No audio checks are applied here: a recording is read whatever its length, and each chunk's row
carries the facts the corpus's checks look at later (``clipped_fraction``, ``silent``), measured on
the chunk's own samples, so a changed check never re-runs the VAD.

One job handles one shard of the manifest (a contiguous slice), writing 16 kHz FLAC chunks named
``<recording id>__<k:04d>`` (the official script's ``<stem>_<k:04>``) and a manifest shard; finished
shards are never redone.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slamming.data.audio import AudioRejected, audio_facts, read_audio, write_flac

log = logging.getLogger("vad_chunk")

SAMPLE_RATE = 16000
METHODS = ("official", "silero")


@dataclass(frozen=True)
class SileroSettings:
    min_seconds: float = 1.0          # shorter segments are left out
    max_seconds: float = 30.0         # no segment is longer
    max_pause_seconds: float = 1.0    # a longer pause ends a segment
    threshold: float = 0.5            # speech probability threshold of Silero VAD
    speech_pad_ms: int = 30           # audio kept on each side of a speech region


@dataclass(frozen=True)
class VadSettings:
    method: str = "official"          # official: the recording's voice_activity; silero: Silero VAD
    target_seconds: float = 60.0      # official: pieces are stitched up to this (cut_by_vad.py's command-line default)
    silero: SileroSettings = field(default_factory=SileroSettings)  # method silero, and the official cut's fallback

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"vad method {self.method!r}; expected one of {', '.join(METHODS)}")

    @classmethod
    def from_config(cls, section: dict) -> VadSettings:
        section = dict(section)
        silero = SileroSettings(**section.pop("silero", {}))
        return cls(**section, silero=silero)


def load_vad(folder: str | Path):
    """Silero VAD from its ONNX file (no pickled or TorchScript code is run)."""
    import torch

    threads = torch.get_num_threads()
    from silero_vad.utils_vad import OnnxWrapper  # importing silero_vad sets torch to one thread

    torch.set_num_threads(threads)
    return OnnxWrapper(str(Path(folder) / "silero_vad.onnx"), force_onnx_cpu=True)


def speech_regions(wave: np.ndarray, model, settings: SileroSettings) -> list[tuple[int, int]]:
    """(start, end) samples of the speech regions of a 16 kHz wave."""
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(torch.from_numpy(wave), model, threshold=settings.threshold, sampling_rate=SAMPLE_RATE,
                                   min_speech_duration_ms=100, max_speech_duration_s=settings.max_seconds,
                                   min_silence_duration_ms=100, speech_pad_ms=settings.speech_pad_ms)
    return [(int(s["start"]), int(s["end"])) for s in stamps]


def join_regions(regions: list[tuple[int, int]], settings: SileroSettings) -> tuple[list[tuple[int, int]], int]:
    """Segments from regions, and how many segments were too short to keep."""
    max_samples, max_pause = settings.max_seconds * SAMPLE_RATE, settings.max_pause_seconds * SAMPLE_RATE
    segments = []
    for start, end in regions:
        if segments and start - segments[-1][1] <= max_pause and end - segments[-1][0] <= max_samples:
            segments[-1] = (segments[-1][0], end)
        else:
            segments.append((start, end))
    kept = [(s, e) for s, e in segments if e - s >= settings.min_seconds * SAMPLE_RATE]
    return kept, len(segments) - len(kept)


def voice_activity(audio: str | Path) -> tuple[list[tuple[float, float]] | None, str]:
    """The ``voice_activity`` of the JSON beside a Libri-Light recording, or None and why there is none."""
    meta = Path(audio).with_suffix(".json")
    try:
        activity = json.loads(meta.read_text(encoding="utf-8")).get("voice_activity")
    except FileNotFoundError:
        return None, f"no {meta.name} beside it"
    except (OSError, ValueError, AttributeError) as e:
        return None, f"{meta.name} unreadable ({type(e).__name__})"
    if activity is None:
        return None, f"no voice_activity in {meta.name}"
    try:
        slices = [(float(start), float(end)) for start, end in activity]
    except (TypeError, ValueError):
        slices = None
    if slices is None or any(not 0 <= start <= end for start, end in slices):
        return None, f"voice_activity in {meta.name} is not a list of [start, end] seconds"
    return slices, ""


def official_pieces(activity: list[tuple[float, float]], target_seconds: float) -> list[list[tuple[int, int]]]:
    """The (start, end) sample slices of each piece, as Libri-Light's cut_by_vad.py stitches them.

    Lengths are summed in the JSON's seconds (end - start), as there; a slice is never split.
    """
    pieces, current, accumulated = [], [], 0.0
    for start, end in activity:
        if accumulated + (end - start) > target_seconds and accumulated > 0:
            pieces.append(current)
            current, accumulated = [], 0.0
        current.append((int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)))
        accumulated += end - start
    if current:
        pieces.append(current)
    return pieces


def chunk_shard(rows: list[dict], settings: VadSettings, audio_dir: Path, load_silero: Callable[[], object]):
    """(manifest rows of the chunks, rejected rows, stats).

    ``load_silero`` returns the Silero VAD model; it is called once, at the first recording that
    needs it (every one with method silero; with official, only those without voice_activity).
    """
    from tqdm import tqdm

    audio_dir.mkdir(parents=True, exist_ok=True)
    chunks, rejected = [], []
    stats = {"files": 0, "input_seconds": 0.0, "speech_seconds": 0.0, "short_segments": 0, "recordings_without_voice_activity": 0}
    models = []

    def silero_model():
        if not models:
            models.append(load_silero())
        return models[0]

    def reject(chunk_id: str, row: dict, reason: str):
        rejected.append({"id": chunk_id, "path": row["path"], "reason": reason, "source": "vad_chunk"})

    for row in tqdm(rows, desc="VAD", unit="file", file=sys.stderr):
        try:
            wave = read_audio(row["path"], SAMPLE_RATE)  # only unreadable, empty or non-finite audio is turned away
        except AudioRejected as e:
            reject(row["id"], row, e.reason)
            continue
        stats["files"] += 1
        stats["input_seconds"] += len(wave) / SAMPLE_RATE
        activity = None
        if settings.method == "official":
            activity, why = voice_activity(row["path"])
            if activity is None:
                stats["recordings_without_voice_activity"] += 1
                log.warning("%s: %s; cut by Silero VAD instead", row["id"], why)
        if activity is not None:
            pieces = official_pieces(activity, settings.target_seconds)
            if not pieces:
                reject(row["id"], row, "no speech found (its voice_activity is empty)")
                continue
        else:
            segments, short = join_regions(speech_regions(wave, silero_model(), settings.silero), settings.silero)
            stats["short_segments"] += short
            if not segments:
                reject(row["id"], row, "no speech found")
                continue
            pieces = [[segment] for segment in segments]
        for k, piece in enumerate(pieces):
            chunk_id = f"{row['id']}__{k:04d}"
            start, end = piece[0][0] / SAMPLE_RATE, piece[-1][1] / SAMPLE_RATE
            samples = np.concatenate([wave[s:e] for s, e in piece])
            if not len(samples):
                reject(chunk_id, row, f"empty: its voice_activity ({start:.2f}-{end:.2f} s) lies past the recording's end")
                continue
            path = audio_dir / f"{chunk_id}.flac"
            write_flac(path, samples, SAMPLE_RATE)
            stats["speech_seconds"] += len(samples) / SAMPLE_RATE
            chunks.append({"id": chunk_id, "path": str(path), "duration": len(samples) / SAMPLE_RATE, "sample_rate": SAMPLE_RATE,
                           "num_samples": len(samples), "split": row["split"], "text": None,
                           "source": f"{row['source']}@{start:.2f}-{end:.2f}", **audio_facts(samples)})
    return chunks, rejected, stats
