"""Each rule's `code` param: the digest of the stage it runs and the project modules that stage imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from slamming.workflow.code import StageCode


def copy_of_the_code(tmp_path: Path) -> Path:
    root = tmp_path / "workflow"
    for part in ("slamming", "workflow_scripts"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_stage_counts_the_project_modules_it_imports_directly_or_not():
    modules = StageCode(REPO).modules("score_likelihood")
    assert {"workflow_scripts.score_likelihood", "slamming.evaluation.likelihood", "slamming.artifacts", "slamming.logs",
            "slamming.training.speech_lm", "slamming"} <= set(modules)
    assert "slamming.data.synthesis" not in modules and "slamming.workflow.plan" not in modules


def test_an_edited_statement_changes_the_stages_that_import_it_and_no_comment_does(tmp_path):
    root = copy_of_the_code(tmp_path)
    before = {stage: StageCode(root).digest(stage) for stage in ("score_likelihood", "synthesise_shard", "pretrain")}
    likelihood = root / "slamming/evaluation/likelihood.py"
    text = likelihood.read_text()

    likelihood.write_text("# a comment\n" + text.replace('"""', '"""A docstring changed. ', 1) + "\n\n")
    assert {stage: StageCode(root).digest(stage) for stage in before} == before

    assert "def " in text
    likelihood.write_text(text + "\nTIE = 0.5\n")  # a statement: what the scoring runs has changed
    after = {stage: StageCode(root).digest(stage) for stage in before}
    assert after["score_likelihood"] != before["score_likelihood"]
    assert after["synthesise_shard"] == before["synthesise_shard"] and after["pretrain"] == before["pretrain"]


@pytest.mark.slow
def test_snakemake_re_runs_a_job_whose_stage_code_changed(tmp_path, tiny_config):
    """Rules run `python -m workflow_scripts...`: only the `code` param makes an edited stage re-run its jobs."""
    workflow = tmp_path / "workflow"
    workflow.mkdir()
    for part in ("Snakefile", "rules", "config", "slamming", "workflow_scripts", "envs", "report", "profiles"):
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, workflow / part)
    work = tmp_path / "work"
    work.mkdir()
    target = "results/text/demo/stories.parquet"

    def snakemake(*args):
        return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(workflow / "Snakefile"), "-d", str(work),
                               "--configfile", str(tiny_config), "--cores", "1", *args, target],
                              capture_output=True, text=True, cwd=work)

    assert snakemake().returncode == 0
    assert "Nothing to be done" in snakemake("-n").stdout + snakemake("-n").stderr
    stage = workflow / "slamming/data/demo_text.py"
    stage.write_text(stage.read_text() + "\n# only a comment\n")
    result = snakemake("-n")
    assert "Nothing to be done" in result.stdout + result.stderr
    stage.write_text(stage.read_text() + "\nNAMES_CHANGED = True\n")
    result = snakemake("-n")
    output = result.stdout + result.stderr
    assert "rule demo_text" in output and "Params have changed" in output, output[-3000:]
