"""Shared fixtures: the repository, a tiny demo configuration and a way to run the workflow."""

from __future__ import annotations

import os
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
  swag: 3
  storycloze: 2
  blimp: 5
corpora:
  demo_stories: {synthesise: {shards: 2}}
  demo_swag: {synthesise: {shards: 1}}
  demo_storycloze: {synthesise: {shards: 1}}
  demo_blimp: {synthesise: {shards: 1}}
"""


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
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_DEMO)
    return path
