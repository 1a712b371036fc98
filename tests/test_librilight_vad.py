"""Libri-Light's own cut (method official): each recording's JSON voice_activity, stitched into pieces as
Libri-Light's data_preparation/cut_by_vad.py does. No model is needed: the audio is tones and silence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from slamming.data import vad
from slamming.data.vad import SileroSettings, VadSettings, chunk_shard, official_pieces

RATE = 16000

# The slices' lengths (seconds), grouped as the pieces the official cut must make of them with a 60 s target:
# a piece is closed before a slice that would take it past 60 s, never before its first slice.
PIECES = [[20, 25, 10],           # 55 s: the next 30 s slice would make 85
          [30, 25],               # 55 s: the next slice (75 s) is longer than the target...
          [75],                   # ...and is a piece of its own
          [5, 50, 5],             # exactly 60 s: not past the target, so the slice stays
          [12, 12, 12, 12, 12],
          [12, 40],
          [40],
          [90],
          [3],                    # 3 + 58 = 61 s
          [58, 1.5],
          [30, 30], [30, 30], [30, 30], [30, 30]]
GAPS = [2.0, 0.5, 10.0, 1.0, 3.5]  # the silences between slices, in turn; 10 s is a long one


def never_silero():
    raise AssertionError("Silero VAD was loaded although every recording has voice_activity")


def tones_with_silences(pieces, gaps, total_seconds: float):
    """A wave of tones (one frequency per slice) separated by silences, and its voice_activity."""
    wave = np.zeros(int(total_seconds * RATE), np.float32)
    activity, position, n = [], 1.0, 0
    for piece in pieces:
        for seconds in piece:
            start, end = position, position + seconds
            t = np.arange(int(start * RATE), int(end * RATE)) / RATE
            wave[int(start * RATE):int(end * RATE)] = 0.3 * np.sin(2 * np.pi * (150 + 7 * n) * t) + 0.05
            activity.append([start, end])
            position = end + gaps[n % len(gaps)]
            n += 1
    assert position <= total_seconds
    return wave, activity


def write_recording(folder: Path, stem: str, wave: np.ndarray, meta: dict | None) -> Path:
    """One recording in Libri-Light's layout, <subset>/<speaker>/<book>/<stem>.flac, with its JSON (unless None)."""
    path = folder / "small" / "100" / "a_book_64kb_mp3" / f"{stem}.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, RATE, subtype="PCM_16")
    if meta is not None:
        path.with_suffix(".json").write_text(json.dumps({"speaker": "100", "file_length_sec": len(wave) / RATE,
                                                         "book_meta": {"id": "319"}, **meta}))
    return path


def row(path: Path, recording_id: str) -> dict:
    return {"id": recording_id, "path": str(path), "split": "train", "source": "librilight"}


def longest_zero_run(samples: np.ndarray) -> int:
    zero = np.concatenate([[False], samples == 0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    return int(np.max(edges[1::2] - edges[::2])) if len(edges) else 0


def test_a_15_minute_recording_is_cut_as_libri_lights_cut_by_vad(tmp_path):
    wave, activity = tones_with_silences(PIECES, GAPS, total_seconds=15 * 60)
    path = write_recording(tmp_path / "librilight", "15min", wave, {"voice_activity": activity})
    stored, _ = sf.read(path, dtype="float32")  # what the cut reads: the FLAC's 16-bit samples
    chunks, rejected, stats = chunk_shard([row(path, "small__100__a_book_64kb_mp3__15min")], VadSettings(), tmp_path / "chunks",
                                          never_silero)
    assert not rejected and stats["recordings_without_voice_activity"] == 0 and stats["files"] == 1
    assert len(chunks) == len(PIECES)
    assert [c["id"] for c in chunks] == [f"small__100__a_book_64kb_mp3__15min__{k:04d}" for k in range(len(PIECES))]
    slices = iter(activity)
    for chunk, piece in zip(chunks, PIECES):
        spans = [next(slices) for _ in piece]
        expected = np.concatenate([stored[int(s * RATE):int(e * RATE)] for s, e in spans])  # the silences between them left out
        samples, rate = sf.read(chunk["path"], dtype="float32")
        assert rate == RATE and np.array_equal(samples, expected), chunk["id"]
        assert chunk["num_samples"] == len(expected) and chunk["duration"] == pytest.approx(sum(piece))
        assert chunk["source"] == f"librilight@{spans[0][0]:.2f}-{spans[-1][1]:.2f}"
        assert longest_zero_run(samples) < RATE // 100  # no silence stitched in
        assert chunk["clipped_fraction"] == 0.0 and chunk["silent"] is False
    assert chunks[2]["duration"] == pytest.approx(75) and chunks[7]["duration"] == pytest.approx(90)  # longer than the target
    assert stats["speech_seconds"] == pytest.approx(sum(map(sum, PIECES)))
    assert stats["input_seconds"] == pytest.approx(15 * 60)


def test_the_target_length_is_a_setting():
    activity = [(float(10 * k), float(10 * k + 8)) for k in range(10)]  # ten 8 s slices
    assert [len(p) for p in official_pieces(activity, 60.0)] == [7, 3]
    assert [len(p) for p in official_pieces(activity, 30.0)] == [3, 3, 3, 1]  # cut_by_vad.py's function default
    assert [len(p) for p in official_pieces(activity, 5.0)] == [1] * 10       # every slice longer: one piece each
    assert official_pieces(activity, 60.0)[0][0] == (0, 8 * RATE) and official_pieces([], 60.0) == []


def test_the_settings_come_from_the_config_section():
    settings = VadSettings.from_config({"method": "official", "target_seconds": 45,
                                        "silero": {"min_seconds": 2.0, "max_seconds": 20.0, "max_pause_seconds": 0.5,
                                                   "threshold": 0.4, "speech_pad_ms": 10}})
    assert settings.target_seconds == 45 and settings.silero == SileroSettings(2.0, 20.0, 0.5, 0.4, 10)
    assert VadSettings() == VadSettings(method="official", target_seconds=60.0)  # the paper's cut, the README's length
    with pytest.raises(ValueError, match="official, silero"):
        VadSettings(method="webrtc")


def test_a_recording_without_voice_activity_falls_back_to_silero_and_is_counted(tmp_path, monkeypatch, caplog):
    wave, activity = tones_with_silences([[4, 3]], [2.0], total_seconds=12)
    folder = tmp_path / "librilight"
    rows = [row(write_recording(folder, "with", wave, {"voice_activity": activity}), "with"),
            row(write_recording(folder, "no_key", wave, {}), "no_key"),
            row(write_recording(folder, "no_json", wave, None), "no_json"),
            row(write_recording(folder, "odd", wave, {"voice_activity": [[3.0, 1.0]]}), "odd"),
            row(write_recording(folder, "empty", wave, {"voice_activity": []}), "empty")]
    loaded = []

    def load_silero():
        loaded.append(True)
        return "model"

    # Silero's regions stand in for the model's: 1-5 s and 7-10 s, joined across the 2 s pause if allowed.
    monkeypatch.setattr(vad, "speech_regions", lambda wave, model, settings: [(RATE, 5 * RATE), (7 * RATE, 10 * RATE)])
    settings = VadSettings(silero=SileroSettings(min_seconds=1.0, max_seconds=30.0, max_pause_seconds=1.0))
    chunks, rejected, stats = chunk_shard(rows, settings, tmp_path / "chunks", load_silero)
    assert loaded == [True]  # loaded once, for the first recording that needs it
    assert stats["recordings_without_voice_activity"] == 3
    by_recording = {}
    for chunk in chunks:
        by_recording.setdefault(chunk["id"].rsplit("__", 1)[0], []).append(chunk["duration"])
    assert by_recording == {"with": [7.0], "no_key": [4.0, 3.0], "no_json": [4.0, 3.0], "odd": [4.0, 3.0]}
    assert rejected == [{"id": "empty", "path": rows[4]["path"], "reason": "no speech found (its voice_activity is empty)",
                         "source": "vad_chunk"}]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.startswith("no_json: no no_json.json beside it") for w in warnings)
    assert any(w.startswith("no_key: no voice_activity in no_key.json") for w in warnings)
    assert any(w.startswith("odd: voice_activity in odd.json is not a list") for w in warnings)

    loaded.clear()  # method silero: every recording by Silero, the JSON not read
    chunks, rejected, stats = chunk_shard(rows[:1], VadSettings(method="silero"), tmp_path / "silero", load_silero)
    assert loaded == [True] and stats["recordings_without_voice_activity"] == 0 and [c["duration"] for c in chunks] == [4.0, 3.0]


def test_voice_activity_past_the_end_gives_no_empty_chunk(tmp_path):
    wave = np.full(5 * RATE, 0.1, np.float32)
    path = write_recording(tmp_path, "short", wave, {"voice_activity": [[1.0, 2.0], [200.0, 270.0]]})  # a 70 s piece of its own
    chunks, rejected, _ = chunk_shard([row(path, "short")], VadSettings(), tmp_path / "chunks", never_silero)
    assert [c["num_samples"] for c in chunks] == [RATE]
    assert [r["id"] for r in rejected] == ["short__0001"] and rejected[0]["reason"].startswith("empty:")
