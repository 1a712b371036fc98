"""The training loop: the time-budget schedule, attention inside documents, resume after a kill, and
data parallelism under torchrun."""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import kill_at_checkpoint
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, OPTConfig, Qwen2Config

from slamming.workflow.config import with_defaults
from slamming.training.engine import Budget, learning_rate
from slamming.units.packing import Documents, mix_order, pack
from slamming.training.pretraining import train_on_windows
from slamming.training.speech_lm import build_speech_lm, save_speech_lm
from slamming.units.vocabulary import SpeechVocabulary

LOG = logging.getLogger("test")

VOCABULARY = SpeechVocabulary(tokeniser="t", num_units=30, frame_rate=25.0)
COSINE = {"learning_rate": 1e-3, "min_learning_rate": 5e-5, "lr_scheduler": "cosine", "warmup_ratio": 0.01}


def test_cosine_schedule_over_the_budget():
    assert learning_rate(COSINE, step=0, progress=0.005) == pytest.approx(0.5e-3)  # half way through warmup
    assert learning_rate(COSINE, step=10, progress=0.01) == pytest.approx(1e-3)     # warmup done: the peak
    assert learning_rate(COSINE, step=99, progress=1.0) == 5e-5                     # the minimum when the budget ends
    values = [learning_rate(COSINE, step=0, progress=p) for p in np.linspace(0.01, 1.0, 50)]
    assert all(a >= b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("warmup_steps", [0, 1, 100])
def test_inverse_sqrt_is_hugging_faces_schedule(warmup_steps):
    """Step for step the learning rate of transformers' get_inverse_sqrt_schedule (Table 5's scheduler)."""
    from transformers import get_inverse_sqrt_schedule

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=5e-5)
    scheduler = get_inverse_sqrt_schedule(optimizer, num_warmup_steps=warmup_steps)
    settings = {"learning_rate": 5e-5, "lr_scheduler": "inverse_sqrt", "warmup_steps": warmup_steps, "warmup_ratio": 0.0}
    for step in range(1000):
        assert learning_rate(settings, step=step, progress=0.5) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12), step
        optimizer.step()
        scheduler.step()


def test_the_longer_warmup_wins():
    assert learning_rate({**COSINE, "warmup_steps": 1000}, step=9, progress=0.01) == pytest.approx(0.01 * 1e-3)


def test_budget_progress_is_the_first_limit():
    budget = Budget(hours=1.0, max_tokens=1000, max_steps=50)
    assert budget.progress(1800, 100, 0, 10) == 0.5 and budget.progress(60, 900, 0, 10) == 0.9
    assert budget.progress(60, 100, 0, 45) == 0.9
    with pytest.raises(ValueError):
        Budget.from_config({"hours": None, "max_steps": None})


# --- a tiny speech LM and packed data --------------------------------------------------------

def make_speech_lm(folder, model_type="qwen2"):
    if model_type == "qwen2":
        config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, tie_word_embeddings=True)
    else:
        config = OPTConfig(vocab_size=64, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                           word_embed_proj_dim=32, max_position_embeddings=128)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder / "text")
    save_speech_lm(build_speech_lm(folder / "text", VOCABULARY, dropout=0.0), VOCABULARY, folder / "init")
    return folder / "init"


def make_windows(folder, context=32, documents=60, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", documents), ("valid", 8)):
        pieces = [np.concatenate([[1], rng.integers(2, 32, size=rng.integers(3, 40)), [1]]) for _ in range(n)]
        docs = Documents(np.concatenate(pieces).astype(np.uint16), np.concatenate([[0], np.cumsum([len(p) for p in pieces])]))
        windows = -(-int(docs.offsets[-1]) // context)
        tokens, segments = np.zeros((windows, context), np.uint16), np.zeros((windows, context), np.uint16)
        pack([docs], mix_order([n], [1.0], seed), context, tokens, segments, np.zeros(windows, bool), 0)
        np.save(folder / f"{split}_tokens.npy", tokens)
        np.save(folder / f"{split}_segments.npy", segments)
    return folder


# Pretraining's settings as a run has them (run_defaults), on full windows.
SETTINGS = with_defaults("run.pretrain", {
    "learning_rate": 3e-3, "min_learning_rate": 3e-4, "lr_scheduler": "cosine", "warmup_ratio": 0.1,
    "per_device_batch_size": 2, "global_batch_size": 8, "max_grad_norm": 0.5, "dtype": "float32",
    "optimizer": "adamw", "weight_decay": 0.0, "context_length": 32, "packing": "windows"})


def test_the_schedule_ends_at_its_minimum_when_the_time_budget_ends(tmp_path):
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")

    class FakeClock:
        """Each reading is a second later: a training step (two readings apart) takes exactly 1 s."""
        def __init__(self):
            self.now = 0.0

        def __call__(self):
            self.now += 1.0
            return self.now

    settings = {**SETTINGS, "budget": {"hours": 40 / 3600}}  # 40 steps of 1 s
    summary = train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, clock=FakeClock(),
                               log_every_steps=1)
    rows = [r for r in csv.DictReader(open(tmp_path / "out" / "training_log.csv")) if r["split"] == "train"]
    assert summary["steps"] == 40 and len(rows) == 40
    assert float(rows[-1]["learning_rate"]) == pytest.approx(SETTINGS["min_learning_rate"], rel=1e-6)
    assert float(rows[-1]["elapsed_seconds"]) == pytest.approx(40.0)
    assert max(float(r["learning_rate"]) for r in rows) == pytest.approx(SETTINGS["learning_rate"], rel=0.02)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])  # it learns


def run_pretrain(init, data, out, settings, *extra, launcher=(sys.executable, "-m")):
    return subprocess.Popen([*launcher, "workflow_scripts.pretrain", "--init", str(init), "--data", str(data),
                             "--settings", json.dumps(settings), "--seed", "0", "--out", str(out), "--threads", "1",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def weights(folder):
    return load_file(folder / "model.safetensors")


@pytest.mark.slow
def test_a_run_killed_and_resumed_ends_with_the_weights_of_an_unbroken_run(tmp_path):
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows", documents=200)
    settings = {**SETTINGS, "budget": {"max_tokens": 120 * 8 * 32}}  # 120 steps, whatever the clock says
    unbroken = run_pretrain(init, data, tmp_path / "unbroken", settings)
    assert unbroken.wait(timeout=600) == 0, unbroken.stdout.read()

    state_file = tmp_path / "killed.work" / "checkpoint" / "trainer_state.pt"
    kill_at_checkpoint(run_pretrain(init, data, tmp_path / "killed", settings, "--checkpoint-every-steps", "1"), state_file, step=20)
    assert not (tmp_path / "killed" / "model.safetensors").exists(), "the run finished before it could be killed"

    resumed = run_pretrain(init, data, tmp_path / "killed", settings, "--checkpoint-every-steps", "1")
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert re.search(r"resumed from step (\d+)", output) and int(re.search(r"resumed from step (\d+)", output)[1]) >= 20
    expected, actual = weights(tmp_path / "unbroken"), weights(tmp_path / "killed")
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
    steps = [int(r["step"]) for r in csv.DictReader(open(tmp_path / "killed" / "training_log.csv")) if r["split"] == "train"]
    assert steps == sorted(set(steps))  # one log, no rows from before the kill repeated


@pytest.mark.slow
def test_two_processes_under_torchrun_give_the_losses_of_one(tmp_path):
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "budget": {"max_tokens": 12 * 8 * 32}}
    one = run_pretrain(init, data, tmp_path / "one", settings, "--log-every-steps", "1")
    two = run_pretrain(init, data, tmp_path / "two", settings, "--log-every-steps", "1",
                       launcher=(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"))
    for process in (one, two):
        output = process.communicate(timeout=600)[0]
        assert process.returncode == 0, output

    def losses(folder):
        return [float(r["loss"]) for r in csv.DictReader(open(folder / "training_log.csv")) if r["split"] == "train"]

    assert len(losses(tmp_path / "one")) == 12
    np.testing.assert_allclose(losses(tmp_path / "two"), losses(tmp_path / "one"), rtol=1e-4)
    summary = json.loads((tmp_path / "two" / "training_summary.json").read_text())
    assert summary["processes"] == 2 and summary["gradient_accumulation"] == 2
    assert json.loads((tmp_path / "one" / "training_summary.json").read_text())["gradient_accumulation"] == 4
    for name, tensor in weights(tmp_path / "one").items():
        torch.testing.assert_close(weights(tmp_path / "two")[name], tensor, atol=1e-4, rtol=1e-3)
    assert not math.isnan(summary["valid_loss"])


@pytest.mark.slow
def test_two_processes_take_every_clock_decision_together(tmp_path):
    """With a time budget and frequent validation and checkpoints, processes whose clocks differ
    must still validate, checkpoint and stop at the same steps, or they wait for each other for ever."""
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "budget": {"hours": 8 / 3600}, "validate_every_minutes": 0.02, "checkpoint_every_minutes": 0.02}
    two = run_pretrain(init, data, tmp_path / "two", settings,
                       launcher=(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"))
    output = two.communicate(timeout=300)[0]
    assert two.returncode == 0, output[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "two" / "training_log.csv")))
    assert sum(r["split"] == "valid" for r in rows) >= 3


def test_max_steps_stops_at_that_step_with_the_schedule_at_its_end(tmp_path):
    """A budget in optimiser steps (to reproduce the paper's step counts on a faster GPU)."""
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "budget": {"hours": 1.0, "max_steps": 7}}
    summary = train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, log_every_steps=1)
    rows = [r for r in csv.DictReader(open(tmp_path / "out" / "training_log.csv")) if r["split"] == "train"]
    assert summary["steps"] == 7 and [int(r["step"]) for r in rows] == list(range(1, 8))
    assert float(rows[-1]["learning_rate"]) == pytest.approx(SETTINGS["min_learning_rate"], rel=1e-6)
    inverse_sqrt = {**SETTINGS, "lr_scheduler": "inverse_sqrt", "warmup_ratio": 0.0, "warmup_steps": 2,
                    "budget": {"hours": None, "max_steps": 5}}
    summary = train_on_windows(init, data, inverse_sqrt, 0, tmp_path / "isqrt", tmp_path / "isqrt.work", LOG, log_every_steps=1)
    rows = [r for r in csv.DictReader(open(tmp_path / "isqrt" / "training_log.csv")) if r["split"] == "train"]
    assert summary["steps"] == 5
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([0.0, 1.5e-3, 3e-3, 3e-3 * (2 / 3) ** 0.5, 3e-3 * 0.5 ** 0.5])


@pytest.mark.parametrize("precision, weights_dtype, autocast", [("pure", torch.bfloat16, None),
                                                                ("mixed", torch.float32, torch.bfloat16)])
def test_precision_is_pure_bf16_as_the_official_code_by_default_and_mixed_on_request(tmp_path, monkeypatch, precision, weights_dtype,
                                                                                      autocast):
    from slamming.training import engine
    from slamming.training.engine import Precision

    chosen = Precision.of({"dtype": "bfloat16", "precision": precision}, torch.device("cpu"))
    assert (chosen.weights, chosen.autocast) == (weights_dtype, autocast)
    default = with_defaults("run.pretrain", {"dtype": "bfloat16"})
    assert Precision.of(default, torch.device("cpu")).weights == torch.bfloat16  # the default is the official code's
    assert Precision.of({"dtype": "float32", "precision": precision}, torch.device("cpu")) == Precision()
    # What a step leaves in the optimiser: seen at each checkpoint, as a resumed run would read it.
    state_dtypes = []
    save = engine.save_checkpoint

    def recording_save(folder, model, optimizer, state, key):
        state_dtypes.append({t.dtype for s in optimizer.state_dict()["state"].values() for n, t in s.items() if n != "step"})
        save(folder, model, optimizer, state, key)

    monkeypatch.setattr(engine, "save_checkpoint", recording_save)
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "dtype": "bfloat16", "precision": precision, "budget": {"max_steps": 3}}
    summary = train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, checkpoint_every_steps=1)
    assert summary["steps"] == 3 and summary["precision"] == chosen.describe()
    assert {t.dtype for t in weights(tmp_path / "out").values()} == {weights_dtype}
    assert state_dtypes and all(dtypes == {weights_dtype} for dtypes in state_dtypes)  # AdamW's moments in the weights' dtype
    assert not (tmp_path / "work" / "checkpoint").exists()  # a finished training leaves no checkpoint to resume


class Killed(Exception):
    """What a kill looks like to the loop: it stops at once, its checkpoints left behind."""


def clock_that_dies_at(step_reading: int):
    readings = {"n": 0}

    def clock():
        readings["n"] += 1
        if readings["n"] == step_reading:
            raise Killed
        return readings["n"] * 0.01

    return clock


def test_a_changed_input_never_resumes_an_old_checkpoint_and_a_finished_one_is_gone(tmp_path, caplog):
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "budget": {"max_steps": 10}}
    caplog.set_level(logging.INFO)
    with pytest.raises(Killed):  # killed after a few steps, checkpoint at every step
        train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, clock=clock_that_dies_at(13),
                         checkpoint_every_steps=1)
    assert (tmp_path / "work" / "checkpoint" / "trainer_state.pt").exists()
    # The starting weights change (another pretraining, another learning rate ...): the checkpoint is not theirs.
    other = AutoModelForCausalLM.from_pretrained(init)
    with torch.no_grad():
        other.model.embed_tokens.weight.mul_(1.5)
    other.save_pretrained(init)
    caplog.clear()
    summary = train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, checkpoint_every_steps=1)
    assert summary["steps"] == 10 and "starting from step 0: the checkpoint" in caplog.text and "other inputs" in caplog.text
    assert not (tmp_path / "work" / "checkpoint").exists()
    # Forced again (snakemake -f): nothing to resume, it trains every step again.
    caplog.clear()
    again = train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG)
    assert again["steps"] == 10 and "starting from step 0: no checkpoint" in caplog.text


def test_the_checkpoint_interval_scales_with_the_budget(tmp_path):
    from slamming.training.engine import Engine

    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    short = Engine({**SETTINGS, "checkpoint_every_minutes": 30.0, "budget": {"hours": 0.025}}, 0, [init, data], tmp_path / "a",
                   tmp_path / "a.work", LOG)
    day = Engine({**SETTINGS, "checkpoint_every_minutes": 30.0, "budget": {"hours": 23.5}}, 0, [init, data], tmp_path / "b",
                 tmp_path / "b.work", LOG)
    assert short.timing.checkpoint_every_seconds == pytest.approx(90 / 20)  # a twentieth of a 90 s budget
    assert day.timing.checkpoint_every_seconds == 30 * 60                     # the configured 30 minutes


def test_the_training_log_has_one_final_validation_row(tmp_path):
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "validate_every_minutes": 1 / 60, "budget": {"hours": 6 / 3600}}

    class OneSecondSteps:
        def __init__(self):
            self.now = 0.0

        def __call__(self):
            self.now += 1.0
            return self.now

    train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, clock=OneSecondSteps(), log_every_steps=1)
    rows = list(csv.DictReader(open(tmp_path / "out" / "training_log.csv")))
    valid = [(r["step"], r["loss"]) for r in rows if r["split"] == "valid"]
    assert len(valid) == len(set(valid)) == 6 and valid[-1][0] == "6"  # every step validated, the last one once


@pytest.mark.slow
def test_a_job_killed_before_its_first_checkpoint_says_so_and_keeps_the_killed_attempts_log(tmp_path):
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows", documents=200)
    settings = {**SETTINGS, "budget": {"max_steps": 400}, "checkpoint_every_minutes": 60.0}
    log_file = tmp_path / "logs" / "pretrain.log"
    first = run_pretrain(init, data, tmp_path / "out", settings, "--log-file", str(log_file), "--log-every-steps", "1")
    deadline = time.time() + 120
    while not (log_file.exists() and "step 3:" in log_file.read_text()):
        assert first.poll() is None and time.time() < deadline, first.stdout.read()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    log_file.unlink()  # as Snakemake deletes a job's log before it runs the job again
    second = run_pretrain(init, data, tmp_path / "out", {**settings, "budget": {"max_steps": 5}}, "--log-file", str(log_file))
    assert second.wait(timeout=300) == 0, second.stdout.read()
    log = log_file.read_text()
    assert log.count("starting from step 0: no checkpoint") == 2  # the killed attempt, then the new one
    assert log.index("the attempts above ended before finishing") > log.index("step 3:")
    assert not (tmp_path / "out.work" / "attempts.log").exists()  # done: no history left to tell again


# --- the optimisers of the paper's Figure 4 -------------------------------------------------

def test_ademamix_without_its_slow_momentum_is_adamw_and_its_warmup_is_the_whole_budget(tmp_path):
    """AdEMAMix is AdamW plus alpha x a slow momentum: at alpha 0 the two trainings end with the same
    weights (so betas, epsilon and learning rate reach it as they reach AdamW); and its alpha and beta3
    warm up over exactly the steps the budget allows."""
    from slamming.training.engine import schedule_step

    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    budget = {"hours": None, "max_steps": 6}
    adamw = train_on_windows(init, data, {**SETTINGS, "budget": budget}, 0, tmp_path / "adamw", tmp_path / "adamw.work", LOG)
    plain = train_on_windows(init, data, {**SETTINGS, "optimizer": "ademamix", "ademamix_alpha": 0.0, "budget": budget}, 0,
                             tmp_path / "plain", tmp_path / "plain.work", LOG)
    assert adamw["steps"] == plain["steps"] == 6
    expected, actual = weights(tmp_path / "adamw"), weights(tmp_path / "plain")
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-4, atol=1e-5)
    # With its slow momentum it trains otherwise, and it learns.
    train_on_windows(init, data, {**SETTINGS, "optimizer": "ademamix", "budget": budget}, 0, tmp_path / "mix",
                             tmp_path / "mix.work", LOG, log_every_steps=1)
    assert any(not torch.allclose(weights(tmp_path / "mix")[n], expected[n]) for n in expected)
    rows = [r for r in csv.DictReader(open(tmp_path / "mix" / "training_log.csv")) if r["split"] == "train"]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])

    # The warm-up's length: steps done over the share of the budget they spend, so 400 for a budget of 400.
    from pytorch_optimizer import AdEMAMix

    optimizer = AdEMAMix([torch.nn.Parameter(torch.zeros(2))], t_alpha_beta3=1.0)
    for step in (0, 9, 399):
        schedule_step(optimizer, 1e-3, step, (step + 1) / 400)
        assert optimizer.param_groups[0]["t_alpha_beta3"] == pytest.approx(400)
        assert optimizer.param_groups[0]["lr"] == 1e-3
    assert AdEMAMix.schedule_alpha(400.0, 400, 8.0) == 8.0 and AdEMAMix.schedule_alpha(400.0, 200, 8.0) == 4.0


def test_adalomo_updates_inside_backward_keeps_no_gradients_and_learns(tmp_path, monkeypatch):
    from slamming.training import engine

    seen = {"grads": []}
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "optimizer": "adalomo", "learning_rate": 1e-2, "budget": {"hours": None, "max_steps": 12}}
    made = engine.make_optimizer

    def recording(model, settings, device):
        optimizer = made(model, settings, device)
        backward = optimizer.fused_backward

        def fused_backward(loss, lr):
            backward(loss, lr)
            seen["grads"].append(any(p.grad is not None for p in model.parameters()))
        optimizer.fused_backward = fused_backward
        return optimizer

    monkeypatch.setattr(engine, "make_optimizer", recording)
    summary = train_on_windows(init, data, settings, 0, tmp_path / "out", tmp_path / "work", LOG, log_every_steps=1)
    assert summary["steps"] == 12
    assert len(seen["grads"]) == 12 * 4 and not any(seen["grads"])  # every micro-batch an update, no gradient kept
    rows = [r for r in csv.DictReader(open(tmp_path / "out" / "training_log.csv")) if r["split"] == "train"]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert any(not torch.equal(weights(tmp_path / "out")[n], t) for n, t in load_file(init / "model.safetensors").items())


@pytest.mark.parametrize("optimizer", ["ademamix", "adalomo"])
def test_a_killed_run_resumes_each_optimisers_state(tmp_path, caplog, optimizer):
    """AdEMAMix's slow momentum and AdaLomo's factored moments are in the checkpoint: killed and resumed,
    the run ends with the weights of an unbroken one."""
    init, data = make_speech_lm(tmp_path), make_windows(tmp_path / "windows")
    settings = {**SETTINGS, "optimizer": optimizer, "budget": {"hours": None, "max_steps": 8}}
    train_on_windows(init, data, settings, 0, tmp_path / "unbroken", tmp_path / "unbroken.work", LOG)
    with pytest.raises(Killed):
        train_on_windows(init, data, settings, 0, tmp_path / "killed", tmp_path / "killed.work", LOG,
                         clock=clock_that_dies_at(11), checkpoint_every_steps=1)
    assert (tmp_path / "killed.work" / "checkpoint" / "trainer_state.pt").exists()
    caplog.set_level(logging.INFO)
    train_on_windows(init, data, settings, 0, tmp_path / "killed", tmp_path / "killed.work", LOG, checkpoint_every_steps=1)
    assert re.search(r"resumed from step [1-7]\b", caplog.text)
    expected, actual = weights(tmp_path / "unbroken"), weights(tmp_path / "killed")
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_adalomo_refuses_more_than_one_process(monkeypatch):
    from slamming.training.engine import make_optimizer

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    with pytest.raises(ValueError, match="optimizer adalomo .* one GPU"):
        make_optimizer(torch.nn.Linear(2, 2), {**SETTINGS, "optimizer": "adalomo"}, torch.device("cpu"))
