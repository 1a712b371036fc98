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

# The demo at the smallest size that still exercises every stage.
TINY_DEMO = """\
demo_text:
  seed: 7
  stories: {train: 4, valid: 2}
  swag: 24
  storycloze: 2
  blimp: 5
corpora:
  demo_stories: {synthesise: {shards: 2}}
  demo_swag: {synthesise: {shards: 1}}
  demo_storycloze: {synthesise: {shards: 1}}
  demo_blimp: {synthesise: {shards: 1}}
demo_text_lm:
  train: {budget: {hours: 0.0015}}
vocoders:
  demo_vocoder: {train: {budget_minutes: 0.1}}
"""

# The demo recipe's budgets, shortened: (old text, new text) in config/recipes/demo.yaml.
TINY_BUDGETS = [("hours: 0.025                    # 90 seconds", "hours: 0.003"),
                ("validate_every_minutes: 0.25 ", "validate_every_minutes: 0.05 "),
                ("epochs: 3     ", "epochs: 2     ")]


def write_tiny_config(folder: Path) -> Path:
    """tiny.yaml (to pass with --configfile) and, beside it, the recipes with the demo's budgets shortened."""
    recipes = folder / "recipes"
    shutil.copytree(REPO / "config" / "recipes", recipes)
    demo = (recipes / "demo.yaml").read_text()
    for old, new in TINY_BUDGETS:
        assert old in demo, old
        demo = demo.replace(old, new)
    (recipes / "demo.yaml").write_text(demo)
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
