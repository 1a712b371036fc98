"""Faults injected one at a time, as a user meets them: each must give one clear line (what, which file,
what to do) or be handled, never a stale or silent result."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from conftest import REPO, snakemake

MINE = """\
sources:
  mine: {{local: {folder}}}
corpora:
  mine: {{audio_folder: {{source: mine, glob: "**/*.wav"}}}}
"""


def one_error_line(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith(("error:", "config error"))]
    assert errors, output[-3000:]
    return errors[0]


def test_a_target_that_names_no_run_lists_the_runs(tmp_path):
    line = one_error_line(snakemake(tmp_path, "-n", "results/nope/metrics.json", check=False))
    assert "there is no run 'nope'" in line and "demo, demo_4_1, demo_interleaved, slam, slam_4_1, slam_4_2, slam_interleaved, slam_large, slam_paper_steps, slam_scaled, twist_350m" in line


def test_a_yaml_error_in_the_workflow_config_names_its_file_and_line(tmp_path):
    workflow = tmp_path / "workflow"
    workflow.mkdir()
    for part in ("Snakefile", "rules", "config", "slamming", "workflow_scripts", "profiles", "report", "envs"):
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, workflow / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / part, workflow / part)
    config = workflow / "config" / "config.yaml"
    lines = config.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if line.startswith("demo_text:")) + 1
    assert lines[broken].startswith("  seed:")
    lines[broken] = "  seed: 1: 2"  # a mapping where a value must be
    config.write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(workflow / "Snakefile"), "-d", str(tmp_path), "-n"],
                            capture_output=True, text=True, cwd=tmp_path)
    line = one_error_line(result)
    assert f"config/config.yaml line {broken + 1}: not valid YAML" in line, line


def kill_when_locked(workdir: Path, process: subprocess.Popen) -> None:
    """SIGKILL a snakemake as soon as it holds its lock: what a lost terminal or an OOM killer does."""
    locks = workdir / ".snakemake" / "locks"
    deadline = time.time() + 120
    while not (locks.is_dir() and any(locks.iterdir())):
        assert process.poll() is None and time.time() < deadline, "snakemake never took its lock"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_after_snakemake_is_killed_the_same_command_runs_without_unlock(tmp_path, tiny_config):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile",
               str(tiny_config), "--cores", "1", "results/text/demo/stories.parquet"]
    kill_when_locked(tmp_path, subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    assert any((tmp_path / ".snakemake" / "locks").iterdir())  # the killed one's lock is left behind
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "removed the lock of a snakemake that no longer runs here" in result.stderr
    assert (tmp_path / "results/text/demo/stories.parquet").exists()


def hold_lock(workdir: Path, pid: int, host: str | None = None) -> None:
    """A lock of Snakemake's and our record of the run that holds it, as a running snakemake leaves them."""
    import json
    import socket

    (workdir / ".snakemake" / "locks").mkdir(parents=True, exist_ok=True)
    (workdir / ".snakemake" / "locks" / "0.input.lock").write_text("x")
    (workdir / ".snakemake" / "lock_owner.json").write_text(json.dumps(
        {"host": host or socket.gethostname(), "pid": pid, "started": "2026-12-03 10:00:00"}))


def test_a_second_snakemake_while_one_runs_is_told_in_one_line_to_wait(tmp_path, tiny_config):
    """Snakemake's own LockException would advise --unlock, which is wrong while the other run goes on."""
    alive = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=tmp_path)  # a process called snakemake, here
    try:
        time.sleep(0.3)
        hold_lock(tmp_path, alive.pid)
        command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile",
                   str(tiny_config), "--cores", "1", "results/text/demo/stories.parquet"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        line = one_error_line(result)
        assert f"another snakemake (pid {alive.pid}, started 2026-12-03 10:00:00) is running in" in line, line
        assert "--unlock" not in line
        looking = subprocess.run(command + ["-n"], capture_output=True, text=True, cwd=tmp_path)  # a dry run takes no lock
        assert looking.returncode == 0, looking.stderr[-3000:]
        assert (tmp_path / ".snakemake" / "locks" / "0.input.lock").exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_lock_is_taken_away_only_when_its_run_was_on_this_host_and_is_gone(tmp_path):
    from slamming.workflow.preflight import before_dag, lock_decision

    alive = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 30"], cwd=tmp_path)
    try:
        time.sleep(0.3)
        hold_lock(tmp_path, alive.pid)
        assert lock_decision(tmp_path).startswith(f"error: another snakemake (pid {alive.pid}")
    finally:
        alive.kill()
        alive.wait()
    assert lock_decision(tmp_path) == "stale"
    assert before_dag([], {}, tmp_path) == (None, "removed the lock of a snakemake that no longer runs here (it was killed)")
    assert not (tmp_path / ".snakemake" / "locks").exists()

    hold_lock(tmp_path, 12345, host="login-node-2")  # a run on another node of a cluster sharing the folder
    error, note = before_dag([], {}, tmp_path)
    assert error == (f"error: a snakemake on host login-node-2 (pid 12345, started 2026-12-03 10:00:00) holds the lock of "
                     f"{tmp_path}: wait for it to finish; if it no longer runs there, run snakemake --unlock")
    assert (tmp_path / ".snakemake" / "locks" / "0.input.lock").exists()
    assert before_dag([], {}, tmp_path, takes_lock=False) == (None, None)  # a dry run only looks

    (tmp_path / ".snakemake" / "lock_owner.json").unlink()  # a lock nobody recorded: never taken away
    error, _ = before_dag([], {}, tmp_path)
    assert "holds a lock with no record of its run" in error and "if no snakemake runs in this folder on any machine" in error
    assert (tmp_path / ".snakemake" / "locks" / "0.input.lock").exists()


def tone(seconds: float, path: Path, freq: float = 300.0) -> None:
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)


def planned(workdir: Path, configs: list[Path], target: str) -> dict[str, int]:
    result = snakemake(workdir, "-n", "--cores", "1", target, configfiles=configs)
    output = result.stdout + result.stderr
    if "Nothing to be done" in output:
        return {}
    stats = output.split("Job stats:")[1]
    import re

    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


@pytest.mark.slow
def test_a_changed_audio_folder_makes_its_manifest_again(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for name in ("a", "b", "c"):
        tone(1.0, folder / f"{name}.wav")
    tone(0.05, folder / "tiny.wav")  # too short for a folder's checks: it must be in the rejected table too
    config = tmp_path / "mine.yaml"
    config.write_text(MINE.format(folder=folder))
    target = "results/corpora/mine/manifest.parquet"
    snakemake(tmp_path, "--cores", "1", target, configfiles=[config])
    rejected = pq.read_table(tmp_path / "results/corpora/mine/rejected.parquet").to_pylist()
    assert [(r["id"], r["reason"].split(":")[0]) for r in rejected] == [("tiny", "too short")]
    assert planned(tmp_path, [config], target) == {}

    time.sleep(0.01)
    tone(1.5, folder / "b.wav", freq=200.0)                           # changed
    assert planned(tmp_path, [config], target) == {"scan_audio_folder": 1, "apply_audio_checks": 1}
    snakemake(tmp_path, "--cores", "1", target, configfiles=[config])
    assert pq.read_table(tmp_path / target).to_pylist()[1]["duration"] == 1.5
    tone(1.0, folder / "d.wav")                                       # added
    assert "scan_audio_folder" in planned(tmp_path, [config], target)
    snakemake(tmp_path, "--cores", "1", target, configfiles=[config])
    (folder / "a.wav").unlink()                                       # deleted
    assert "scan_audio_folder" in planned(tmp_path, [config], target)
    snakemake(tmp_path, "--cores", "1", target, configfiles=[config])
    assert [r["id"] for r in pq.read_table(tmp_path / target).to_pylist()] == ["b", "c", "d"]


def test_an_empty_audio_folder_stops_with_one_line(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "notes.txt").write_text("no audio here")
    config = tmp_path / "mine.yaml"
    config.write_text(MINE.format(folder=folder))
    line = one_error_line(snakemake(tmp_path, "--cores", "1", "results/corpora/mine/manifest.parquet", configfiles=[config],
                                    check=False))
    assert "no audio files in resources/sources/mine" in line and "corpora.mine.audio_folder" in line


def test_every_file_libri_light_turns_away_is_in_the_corpus_rejected_table(tmp_path):
    """An unreadable recording is turned away before VAD: it must still be in the corpus's rejected table."""
    from slamming.data.manifests import REJECTED_SCHEMA, write_table
    from workflow_scripts import merge_corpus_shards

    write_table([{"id": "small__1__b__broken", "path": "broken.flac", "reason": "unreadable: not a FLAC", "source": "librilight"}],
                REJECTED_SCHEMA, tmp_path / "recordings.rejected.parquet")
    shard = tmp_path / "shards" / "0.parquet"
    from slamming.data.manifests import MANIFEST_SCHEMA

    write_table([], MANIFEST_SCHEMA, shard)
    write_table([{"id": "small__1__b__quiet", "path": "quiet.flac", "reason": "no speech found", "source": "vad_chunk"}],
                REJECTED_SCHEMA, shard.with_name("0.rejected.parquet"))
    assert merge_corpus_shards.main(["--shards", str(shard), "--rejected-before", str(tmp_path / "recordings.rejected.parquet"),
                                     "--out", str(tmp_path / "manifest.parquet"), "--rejected-out", str(tmp_path / "rejected.parquet")]) == 0
    reasons = {r["id"]: r["reason"] for r in pq.read_table(tmp_path / "rejected.parquet").to_pylist()}
    assert reasons == {"small__1__b__broken": "unreadable: not a FLAC", "small__1__b__quiet": "no speech found"}


def stage(module: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"workflow_scripts.{module}", *arguments], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_truncated_parquet_table_names_the_file_and_how_to_make_it_again(tmp_path):
    table = tmp_path / "results/units/t/c/units.parquet"
    table.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "split": ["train"], "units": [[1, 2, 3]]}), table)
    table.write_bytes(table.read_bytes()[: len(table.read_bytes()) // 2])
    (tmp_path / "vocabulary.json").write_text(json.dumps({"tokeniser": "t", "num_units": 10, "frame_rate": 25.0}))
    result = stage("pack_windows", "--mix", json.dumps({"c": {"units": str(table.relative_to(tmp_path)), "weight": 1.0}}),
                   "--vocabulary", "vocabulary.json", "--context", "16", "--out-dir", "packed", cwd=tmp_path)
    line = one_error_line(result)
    assert line.startswith("error: results/units/t/c/units.parquet cannot be read")
    assert "snakemake -f results/units/t/c/units.parquet" in line


def test_a_truncated_model_names_its_weights_and_how_to_make_them_again(tmp_path):
    """A raw SafetensorError (and an empty log) was all score_likelihood and generate said."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from slamming.training.speech_lm import build_speech_lm, save_speech_lm
    from slamming.units.vocabulary import SpeechVocabulary

    vocabulary = SpeechVocabulary(tokeniser="t", num_units=30, frame_rate=25.0)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(tmp_path / "text")
    model = tmp_path / "results/demo/models/pretrained"
    save_speech_lm(build_speech_lm(tmp_path / "text", vocabulary, dropout=0.0), vocabulary, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    log = tmp_path / "score.log"
    result = stage("score_likelihood", "--model", str(model.relative_to(tmp_path)), "--units", "u.parquet", "--pairs",
                   "p.parquet", "--benchmark", "sblimp", "--out-table", "t.parquet", "--out-json", "s.json",
                   "--log-file", str(log), cwd=tmp_path)
    line = one_error_line(result)
    assert line.startswith("error: results/demo/models/pretrained/model.safetensors cannot be read"), line
    assert "snakemake -f results/demo/models/pretrained/model.safetensors" in line
    assert "cannot be read" in log.read_text()  # the job's log says it too


def test_a_truncated_manifest_read_by_duckdb_names_the_file_with_the_whole_reason(tmp_path):
    manifest = tmp_path / "results/corpora/c/manifest.parquet"
    manifest.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"] * 50, "split": ["train"] * 50, "duration": [1.0] * 50}), manifest)
    pq.write_table(pa.table({"id": ["b"], "reason": ["too short"]}), manifest.with_name("rejected.parquet"))
    manifest.write_bytes(manifest.read_bytes()[:-40])
    result = stage("corpus_stats", "--corpus", "c", "--manifest", str(manifest.relative_to(tmp_path)), "--rejected",
                   "results/corpora/c/rejected.parquet", "--out", "stats.csv", cwd=tmp_path)
    line = one_error_line(result)
    assert line.startswith("error: results/corpora/c/manifest.parquet cannot be read ("), line
    # Arrow's whole reason (it was cut at 160 characters: "Either the file is corr"):
    assert "Either the file is corrupted or this is not a parquet file.); make it again" in line, line


def test_a_broken_metrics_json_names_the_file_for_the_table(tmp_path):
    good, broken = tmp_path / "results/a/metrics.json", tmp_path / "results/b/metrics.json"
    for path in (good, broken):
        path.parent.mkdir(parents=True)
    good.write_text(json.dumps({"run": "a"}))
    broken.write_text('{"run": "b", "likeli')
    result = stage("metrics_table", "--metrics", "results/a/metrics.json", "results/b/metrics.json", "--out", "metrics.csv",
                   cwd=tmp_path)
    line = one_error_line(result)
    assert line.startswith("error: results/b/metrics.json cannot be read"), line
    assert "snakemake -f results/b/metrics.json" in line


def test_a_vocoder_whose_upsampling_is_not_one_frame_of_its_units_stops_before_training(tmp_path):
    """A HuBERT tokeniser's frame rate is in its model, so the stage checks what the configuration could not."""
    (tmp_path / "vocabulary.json").write_text(json.dumps({"tokeniser": "hubert50", "num_units": 10, "frame_rate": 50.0}))
    result = stage("train_vocoder", "--units", "u.parquet", "--manifest", "m.parquet", "--vocabulary", "vocabulary.json",
                   "--settings", json.dumps({"upsample_rates": [8, 8, 5, 2]}), "--out", "vocoder", cwd=tmp_path)
    line = one_error_line(result)
    assert line == ("error: vocoder upsample_rates [8, 8, 5, 2]: their product must be the 320 samples of one 50 Hz frame of "
                    "hubert50 units at 16 kHz; change vocoders.<name>.train.upsample_rates"), line


def test_a_truncated_npy_of_packed_windows_names_the_file(tmp_path):
    from slamming.artifacts import ArtifactUnreadable
    from slamming.training.pretraining import PackedWindows

    np.save(tmp_path / "train_tokens.npy", np.zeros((64, 32), np.uint16))
    np.save(tmp_path / "train_segments.npy", np.ones((64, 32), np.uint16))
    data = (tmp_path / "train_tokens.npy").read_bytes()
    (tmp_path / "train_tokens.npy").write_bytes(data[: len(data) // 3])
    with pytest.raises(ArtifactUnreadable, match=r"train_tokens.npy cannot be read .*snakemake -f"):
        PackedWindows(tmp_path, "train")


def test_an_unknown_tokeniser_in_a_recipe_is_one_line_naming_the_recipe(tmp_path):
    recipes = tmp_path / "recipes"
    shutil.copytree(REPO / "config" / "recipes", recipes)
    (recipes / "mine.yaml").write_text("base: demo\ndescription: mine\ntokeniser: no_such_tokeniser\n")
    config = tmp_path / "recipes.yaml"
    config.write_text(f"recipes_dir: {recipes}\n")
    line = one_error_line(snakemake(tmp_path, "-n", "results/demo/data.json", configfiles=[config], check=False))
    assert "mine.yaml: run.tokeniser: no tokenisers entry named 'no_such_tokeniser'" in line
