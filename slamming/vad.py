"""Cut long recordings (Libri-Light's hour-long chapters) into speech segments with Silero VAD.

Silero VAD (its ONNX model ships in the ``silero-vad`` package, materialised as the source
``silero_vad``) finds the speech regions of a file; regions are then joined into segments: a segment
ends at a pause longer than ``max_pause_seconds`` or before it would pass ``max_seconds``, so pauses
inside a segment stay as they are and long silences are removed. A region longer than
``max_seconds`` is cut at the VAD's own split points. Segments shorter than ``min_seconds`` are left
out and counted; a file with no segment at all goes to the rejected table ("no speech found").

A recording is read whatever its length; the audio checks (``audio_checks``: duration bounds and the
share of clipped samples) apply to each chunk, so a recording with a clipped stretch keeps its clean
chunks, and a rejected chunk is listed in the rejected table with its time span and the reason.

One job handles one shard of the manifest (a contiguous slice), writing 16 kHz FLAC chunks and a
manifest shard; finished shards are never redone.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slamming.audio import AudioChecks, AudioRejected, prepare_audio, read_audio, write_flac

log = logging.getLogger("vad_chunk")

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class VadSettings:
    min_seconds: float = 1.0          # shorter segments are left out
    max_seconds: float = 30.0         # no segment is longer
    max_pause_seconds: float = 1.0    # a longer pause ends a segment
    threshold: float = 0.5            # speech probability threshold of Silero VAD
    speech_pad_ms: int = 30           # audio kept on each side of a speech region

    @classmethod
    def from_config(cls, section: dict) -> "VadSettings":
        return cls(**section)


def load_vad(folder: str | Path):
    """Silero VAD from its ONNX file (no pickled or TorchScript code is run)."""
    import torch

    threads = torch.get_num_threads()
    from silero_vad.utils_vad import OnnxWrapper  # importing silero_vad sets torch to one thread

    torch.set_num_threads(threads)
    return OnnxWrapper(str(Path(folder) / "silero_vad.onnx"), force_onnx_cpu=True)


def speech_regions(wave: np.ndarray, model, settings: VadSettings) -> list[tuple[int, int]]:
    """(start, end) samples of the speech regions of a 16 kHz wave."""
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(torch.from_numpy(wave), model, threshold=settings.threshold, sampling_rate=SAMPLE_RATE,
                                   min_speech_duration_ms=100, max_speech_duration_s=settings.max_seconds,
                                   min_silence_duration_ms=100, speech_pad_ms=settings.speech_pad_ms)
    return [(int(s["start"]), int(s["end"])) for s in stamps]


def join_regions(regions: list[tuple[int, int]], settings: VadSettings) -> tuple[list[tuple[int, int]], int]:
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


def chunk_shard(rows: list[dict], model, settings: VadSettings, audio_dir: Path, checks: AudioChecks):
    """(manifest rows of the chunks, rejected rows, stats)."""
    from tqdm import tqdm

    audio_dir.mkdir(parents=True, exist_ok=True)
    chunks, rejected = [], []
    stats = {"files": 0, "input_seconds": 0.0, "speech_seconds": 0.0, "short_segments": 0}
    for row in tqdm(rows, desc="VAD", unit="file", file=sys.stderr):
        try:
            wave = read_audio(row["path"], SAMPLE_RATE)  # readable, finite, not silent: the rest is per chunk
        except AudioRejected as e:
            rejected.append({"id": row["id"], "path": row["path"], "reason": e.reason, "source": "vad_chunk"})
            continue
        segments, short = join_regions(speech_regions(wave, model, settings), settings)
        stats["files"] += 1
        stats["input_seconds"] += len(wave) / SAMPLE_RATE
        stats["short_segments"] += short
        if not segments:
            rejected.append({"id": row["id"], "path": row["path"], "reason": "no speech found", "source": "vad_chunk"})
            continue
        for k, (start, end) in enumerate(segments):
            chunk_id = f"{row['id']}__{k:04d}"
            span = f"{start / SAMPLE_RATE:.2f}-{end / SAMPLE_RATE:.2f} s"
            try:
                prepare_audio(wave[start:end], SAMPLE_RATE, SAMPLE_RATE, checks)
            except AudioRejected as e:
                rejected.append({"id": chunk_id, "path": row["path"], "reason": f"{e.reason} (chunk {span})", "source": "vad_chunk"})
                continue
            path = audio_dir / f"{chunk_id}.flac"
            write_flac(path, wave[start:end], SAMPLE_RATE)
            stats["speech_seconds"] += (end - start) / SAMPLE_RATE
            chunks.append({"id": chunk_id, "path": str(path), "duration": (end - start) / SAMPLE_RATE, "sample_rate": SAMPLE_RATE,
                           "num_samples": end - start, "split": row["split"], "text": None,
                           "source": f"{row['source']}@{start / SAMPLE_RATE:.2f}-{end / SAMPLE_RATE:.2f}"})
    return chunks, rejected, stats
