"""Odd audio is resampled, downmixed or rejected with a recorded reason; nothing is lost silently."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from slamming.data.audio import AudioChecks, AudioRejected, read_audio
from slamming.workflow.config import corpus_audio_checks, load_yaml, with_defaults
from slamming.data.manifests import MANIFEST_SCHEMA, REJECTED_SCHEMA, apply_checks, scan_folder, write_table
from slamming.data.stats import corpus_stats

REPO = Path(__file__).resolve().parent.parent
CHECKS = AudioChecks(min_seconds=0.2, max_seconds=60.0, max_clipped_fraction=0.001, reject_silent=True)


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def test_44k1_is_resampled_to_16k_keeping_pitch_and_length(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(1.0, 44100), 44100)
    out = read_audio(path, 16000, CHECKS)
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) == 16000
    assert abs(dominant_frequency(out, 16000) - 440.0) < 2.0


def test_stereo_is_downmixed_to_the_mean(tmp_path):
    path = tmp_path / "stereo.flac"
    left, right = tone(0.5, 16000, 440), tone(0.5, 16000, 880, 0.25)
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    out = read_audio(path, 16000, CHECKS)
    assert out.shape == (8000,)
    np.testing.assert_allclose(out, (left + right) / 2, atol=2e-4)


def test_8_bit_audio_is_read_as_float(tmp_path):
    path = tmp_path / "u8.wav"
    sf.write(path, tone(0.5, 8000), 8000, subtype="PCM_U8")
    assert sf.info(str(path)).subtype == "PCM_U8"
    out = read_audio(path, 16000, CHECKS)
    assert len(out) == 8000 and 0.4 < np.abs(out).max() < 0.6
    assert abs(dominant_frequency(out, 16000) - 440.0) < 3.0


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_bytes(b"RIFF\x00\x00garbage that is not audio"), "unreadable"),
    (lambda p: sf.write(p, np.zeros((0,), np.float32), 16000), "empty"),
    (lambda p: sf.write(p, np.clip(tone(1.0, 16000, amplitude=3.0), -1, 1), 16000), "clipped"),
    (lambda p: sf.write(p, tone(0.05, 16000), 16000), "too short"),
    (lambda p: sf.write(p, np.zeros(16000, np.float32), 16000), "silent"),
])
def test_unusable_audio_is_rejected_with_a_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioRejected) as raised:
        read_audio(path, 16000, CHECKS)
    assert raised.value.reason.startswith(reason)


def test_without_checks_only_unreadable_empty_and_non_finite_audio_is_rejected(tmp_path):
    for name, samples in (("clipped", np.clip(tone(1.0, 16000, amplitude=3.0), -1, 1)), ("short", tone(0.05, 16000)),
                          ("silent", np.zeros(16000, np.float32))):
        sf.write(tmp_path / f"{name}.wav", samples, 16000)
        assert len(read_audio(tmp_path / f"{name}.wav", 16000)) == len(samples)
    sf.write(tmp_path / "nan.wav", np.full(100, np.nan, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioRejected, match="corrupt"):
        read_audio(tmp_path / "nan.wav", 16000)


def test_folder_scan_then_its_checks_keep_every_file_in_one_of_the_two_tables(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "spk1").mkdir(parents=True)
    sf.write(folder / "spk1" / "good.flac", tone(1.0, 16000), 16000)
    (folder / "spk1" / "good.txt").write_text("a good  file\n")
    sf.write(folder / "spk1" / "stereo.wav", np.stack([tone(1.0, 44100)] * 2, axis=1), 44100)
    sf.write(folder / "u8.wav", tone(1.0, 8000), 8000, subtype="PCM_U8")
    sf.write(folder / "empty.wav", np.zeros((0,), np.float32), 16000)
    (folder / "corrupt.flac").write_bytes(b"fLaC but nothing else")
    sf.write(folder / "clipped.wav", np.clip(tone(1.0, 16000, amplitude=3.0), -1, 1), 16000)
    (folder / "notes.csv").write_text("not audio")

    rows, rejected = scan_folder(folder, "mine", with_defaults("corpora.<name>.audio_folder", {"split": "train"}))
    assert {r["id"] for r in rows} == {"spk1__good", "spk1__stereo", "u8", "clipped"}  # the checks come after
    table, failed = apply_checks(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), CHECKS)
    rows, rejected = table.to_pylist(), rejected + failed
    kept = {r["id"]: r for r in rows}
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert set(kept) == {"spk1__good", "spk1__stereo", "u8"}
    assert kept["spk1__good"]["text"] == "a good file" and kept["spk1__stereo"]["sample_rate"] == 44100
    assert abs(kept["u8"]["duration"] - 1.0) < 1e-6
    assert reasons["empty"].startswith("empty") and reasons["corrupt"].startswith("unreadable")
    assert reasons["clipped"].startswith("clipped") and reasons["notes.csv"].startswith("not audio")
    assert len(rows) + len(rejected) == 7  # every file but the transcript is accounted for

    write_table(rows, MANIFEST_SCHEMA, tmp_path / "manifest.parquet")
    write_table(rejected, REJECTED_SCHEMA, tmp_path / "rejected.parquet")
    assert pq.read_table(tmp_path / "manifest.parquet").schema.equals(MANIFEST_SCHEMA)
    assert pq.read_table(tmp_path / "rejected.parquet").num_rows == 4


def test_valid_fraction_is_seeded(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(10):
        sf.write(folder / f"{i}.wav", tone(0.5, 16000), 16000)
    splits = [tuple(r["split"] for r in scan_folder(folder, "m", with_defaults("corpora.<name>.audio_folder", {"valid_fraction": 0.3}))[0]) for _ in range(2)]
    assert splits[0] == splits[1] and splits[0].count("valid") == 3


def test_a_paper_corpus_keeps_and_counts_a_clipped_file_that_your_own_folder_rejects(tmp_path):
    """As the official code trains on them: clipped, very short and silent files stay in Libri-Light,
    LibriSpeech, sTinyStories and SpokenSwag, and corpora.csv counts them."""
    config = load_yaml(REPO / "config" / "config.yaml")
    folder = tmp_path / "corpus"
    folder.mkdir()
    sf.write(folder / "clipped.wav", np.clip(tone(1.0, 16000, amplitude=3.0), -1, 1), 16000)
    sf.write(folder / "short.wav", tone(0.1, 16000), 16000)
    sf.write(folder / "silent.wav", np.zeros(8000, np.float32), 16000)
    sf.write(folder / "good.wav", tone(1.0, 16000), 16000)
    rows, rejected = scan_folder(folder, "c", with_defaults("corpora.<name>.audio_folder", {"split": "train"}))
    assert rejected == [] and len(rows) == 4
    candidates = pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)
    for corpus in ("librilight", "librispeech", "stinystories", "spokenswag"):
        checks = AudioChecks.from_config(corpus_audio_checks(config, corpus))
        assert apply_checks(candidates, checks)[0].num_rows == 4, corpus
    kept, failed = apply_checks(candidates, AudioChecks.from_config(config["audio_checks"]["audio_folder"]))
    assert kept["id"].to_pylist() == ["good"]
    assert sorted(r["reason"].split(":")[0] for r in failed) == ["clipped", "silent", "too short"]
    assert corpus_audio_checks(config, "sblimp") == {}  # a benchmark is scored whole

    write_table(rows, MANIFEST_SCHEMA, tmp_path / "manifest.parquet")
    write_table([], REJECTED_SCHEMA, tmp_path / "rejected.parquet")
    corpus_stats("c", str(tmp_path / "manifest.parquet"), str(tmp_path / "rejected.parquet"), str(tmp_path / "stats.csv"))
    stats = next(csv.DictReader(open(tmp_path / "stats.csv")))
    assert (stats["clipped_kept"], stats["short_kept"], stats["silent_kept"]) == ("1", "1", "1")
    assert (stats["kept_in_corpus"], stats["rejected_in_corpus"]) == ("4", "0")


def test_a_check_on_samples_cannot_run_on_a_corpus_scanned_by_headers(tmp_path):
    row = {"id": "a", "path": "a.flac", "duration": 3.0, "sample_rate": 16000, "num_samples": 48000, "split": "train",
           "text": None, "source": "librispeech"}  # its samples were never read: clipped_fraction and silent are null
    candidates = pa.Table.from_pylist([row], schema=MANIFEST_SCHEMA)
    assert apply_checks(candidates, AudioChecks(min_seconds=1.0))[0].num_rows == 1
    with pytest.raises(ValueError, match="a.flac: its samples were not read"):
        apply_checks(candidates, AudioChecks(max_clipped_fraction=0.001))
