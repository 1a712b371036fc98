"""--use-conda: one environment, generated from pyproject.toml, that has every package the rules import."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import yaml

from slamming.workflow.conda_env import render

REPO = Path(__file__).resolve().parent.parent
# Imported only where an optional extra or package is installed, each behind its own setting.
OPTIONAL = {"kokoro": "the [kokoro] extra", "wandb": "the [tracking] extra", "tensorboard": "the [tracking] extra",
            "flash_attn": "flash-attn, built by hand on a CUDA machine",
            "liger_kernel": "liger-kernel, installed by hand on a CUDA machine (its Triton kernels need a GPU)"}
# Imported by Snakemake's own process when it reads the Snakefile, never by a job.
SNAKEMAKE_PROCESS_ONLY = {("slamming/workflow/preflight.py", "snakemake")}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_environment_file_is_generated_from_pyproject():
    assert (REPO / "envs" / "slamming.yaml").read_text() == render(), \
        "regenerate: python -m slamming.workflow.conda_env > envs/slamming.yaml"


def test_every_rule_uses_the_generated_environment():
    directives = re.findall(r"^    conda:\n        (.+)$", "".join(p.read_text() for p in (REPO / "rules").glob("*.smk")), re.M)
    rules = re.findall(r"^rule \w+:", "".join(p.read_text() for p in (REPO / "rules").glob("*.smk")), re.M)
    assert len(directives) == len(rules) and set(directives) == {'"../envs/slamming.yaml"'}
    assert sorted(p.name for p in (REPO / "envs").iterdir()) == ["slamming.yaml"]


def test_the_environment_has_every_package_the_stages_import():
    """What workflow_scripts/ and slamming/ import (the code the rules run) is in the environment."""
    listed = {canonical(pin.split("==")[0]) for pin in yaml.safe_load(render())["dependencies"][-1]["pip"]}
    providers = importlib.metadata.packages_distributions()
    missing = []
    for folder in ("slamming", "workflow_scripts"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in ("slamming", "workflow_scripts", "__future__") or top in OPTIONAL \
                            or (str(path.relative_to(REPO)), top) in SNAKEMAKE_PROCESS_ONLY:
                        continue
                    if not {canonical(d) for d in providers.get(top, [])} & listed:
                        missing.append(f"{path.relative_to(REPO)} imports {top} (from {providers.get(top)})")
    assert not missing, "add to pyproject.toml's dependencies and regenerate envs/slamming.yaml: " + "; ".join(sorted(set(missing)))
