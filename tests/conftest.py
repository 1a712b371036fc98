"""Shared fixtures: the repository, a tiny demo configuration and a way to run the workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Tests never reach a model hub: whatever would, must fail fast and clearly.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

# The demo at the smallest size that still runs every stage: a global config (its text, its corpora's
# shards, the vocoder's and text LM's steps) and a recipe, ``tiny``, that inherits the demo's.
TINY_DEMO = """\
default_runs: [tiny]
demo_text:
  seed: 7
  stories: {train: 12, valid: 4}
  swag: {triples: 12, held_out: 4}
  storycloze: 6
  blimp: 10
  grammar: 20
sources:
  demo_librilight_audio: {demo: {recording_minutes: 0.5}}
corpora:
  demo_stories: {synthesise: {shards: 2}}
  demo_swag: {synthesise: {shards: 1}}
  demo_cloze_parts: {synthesise: {shards: 1}}
  demo_blimp_sentences: {synthesise: {shards: 1}}
  demo_grammar: {synthesise: {shards: 1}}
  demo_librilight: {librilight: {shards: 1}}
  demo_tinystories: {hub_audio: {shards: 1}}
demo_text_lm:
  train: {budget: {hours: null, max_steps: 20}}
vocoders:
  demo_vocoder: {train: {max_steps: 10}}
"""

TINY_RECIPE = """\
base: demo
description: Tiny demo - every stage of the demo at the smallest size, for the tests
pretrain:
  validate_every_minutes: 0.05
  budget: {max_steps: 30}           # enough that the model prefers real unit sequences to shuffled ones
dpo:
  per_device_batch_size: 4          # 8 training triples: two steps an epoch
  global_batch_size: 4
  budget: {epochs: 2}
generation:
  num_prompts: 2
"""


def write_tiny_config(folder: Path) -> Path:
    """tiny.yaml (to pass with --configfile) and, beside it, the recipes with the tiny run added."""
    recipes = folder / "recipes"
    shutil.copytree(REPO / "config" / "recipes", recipes)
    (recipes / "tiny.yaml").write_text(TINY_RECIPE)
    path = folder / "tiny.yaml"
    path.write_text(TINY_DEMO + f"recipes_dir: {recipes}\n")
    return path


def snakemake(workdir: Path, *args: str, configfiles: list[Path] = (), check: bool = True,
              timeout: int = 1200) -> subprocess.CompletedProcess:
    """Run the workflow (its Snakefile, the working folder ``workdir``) as a user would."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    if configfiles:
        command += ["--configfile", *map(str, configfiles)]
    command += list(args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    return write_tiny_config(tmp_path)


def kill_at_checkpoint(process: subprocess.Popen, state_file: Path, step: int, timeout: float = 300) -> None:
    """SIGKILL a training process once the checkpoint in ``state_file`` has reached ``step``."""
    import signal
    import time

    import torch

    deadline = time.time() + timeout
    while time.time() < deadline:
        if state_file.exists():
            try:
                if torch.load(state_file, weights_only=True)["state"]["step"] >= step:
                    break
            except (RuntimeError, EOFError, FileNotFoundError):
                pass  # caught between the write and the swap
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
