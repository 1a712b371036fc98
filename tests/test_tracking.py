"""report_to: live tracking beside training_log.csv writes what it should, TensorBoard event files and a
Weights & Biases run (offline: no account, no network)."""

from __future__ import annotations

import csv

import pytest
from test_training import LOG, SETTINGS, make_speech_lm, make_windows

from slamming.training.pretraining import train_on_windows


def logged_steps(out) -> list[int]:
    return [int(r["step"]) for r in csv.DictReader(open(out / "training_log.csv")) if r["split"] == "train"]


def test_tensorboard_writes_the_training_curve_as_event_files(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "report_to": ["tensorboard"], "budget": {"max_steps": 4}}
    train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, log_every_steps=1)
    events = list((tmp_path / "work" / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    curves = EventAccumulator(str(events[0])).Reload()
    assert [e.step for e in curves.Scalars("train/loss")] == logged_steps(tmp_path / "out") == [1, 2, 3, 4]
    assert "train/learning_rate" in curves.Tags()["scalars"]


def test_weights_and_biases_runs_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb_dir").mkdir()
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "report_to": ["wandb"], "budget": {"max_steps": 3}}
    train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, log_every_steps=1)
    runs = list((tmp_path / "wandb_dir" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))  # the run's history, ready for `wandb sync`
    assert logged_steps(tmp_path / "out") == [1, 2, 3]


def test_an_unknown_tracker_is_refused(tmp_path):
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    with pytest.raises(ValueError, match="report_to: unknown tracker 'mlflow'"):
        train_on_windows(init, data, {**SETTINGS, "report_to": ["mlflow"], "budget": {"max_steps": 1}}, 0,
                         tmp_path / "out", tmp_path / "work", LOG)
