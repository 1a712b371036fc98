"""What a changed setting re-runs: for each number or switch of a run's recipe and of the configuration's
sections, a dry-run of the default target with that one setting changed, in a folder where the runs are
finished. A slice too wide (a change that re-runs more than what reads the setting: new speech for a new
audio check) shows as a long row.

    python -m slamming.workflow.slices --workdir W [--configfile C] [--only audio_checks. pretrain.]

prints one line per setting: its key, the old and new value, and the jobs planned per rule (or the one
line with which the configuration refused the value). tests/test_workflow.py runs it on a few settings;
the whole sweep (about 130 settings, 5 s each) is for a change to the rules or the plan.
"""
from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from slamming.workflow.config import deep_merge, load_runs, load_yaml

WORKFLOW = Path(__file__).resolve().parents[2]
# Sections of config.yaml that are not settings of what is computed: where things are, which runs.
NOT_SETTINGS = ("sources", "run_defaults", "recipes_dir", "default_runs", "gpu_jobs")


@dataclass(frozen=True)
class Change:
    key: str            # run.pretrain.learning_rate, audio_checks.max_clipped_fraction, ...
    old: object
    new: object
    override: dict      # nested: onto the run's recipe (key run.*) or onto the configuration


def changed_value(value):
    """A different value of the same type, still plausible: a switch flipped, a number moved up (None for
    anything else: names, lists, and settings left null, which the sweep leaves alone)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):  # doubled: batch sizes stay multiples of one another
        return value * 2 if value else 1
    if isinstance(value, float):
        if 0 < value < 1:  # a probability, a beta, a fraction: half way to 1
            return round((1 + value) / 2, 12)
        return round(value * 1.5, 12) if value else 0.1
    return None


def _leaves(tree: dict, prefix: tuple = ()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _nested(path: tuple, value) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value


def setting_changes(config: dict, run: dict) -> list[Change]:
    """One change per number or switch: of ``run`` (a run's resolved recipe) and of the configuration."""
    changes = []
    for path, value in _leaves(run):
        new = changed_value(value)
        if new is not None:
            changes.append(Change(".".join(("run", *path)), value, new, _nested(path, new)))
    for path, value in _leaves({k: v for k, v in config.items() if k not in NOT_SETTINGS}):
        new = changed_value(value)
        if new is not None:
            changes.append(Change(".".join(path), value, new, _nested(path, new)))
    return changes


def planned_jobs(workdir: Path, configfiles: list[Path], timeout: int = 600) -> dict[str, int] | str:
    """Jobs per rule that a dry-run of the default target plans, or the error that stopped it (one line)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(WORKFLOW / "Snakefile"), "-d", str(workdir), "-n",
               "--cores", "2", "--configfile", *map(str, configfiles)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        return (errors or lines or ["failed"])[0]
    if "Job stats:" not in output:
        return {}
    stats = output.split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)
            if m.group(1) not in ("total", "all")}


def plan_change(workdir: Path, configfiles: list[Path], run: str, change: Change) -> dict[str, int] | str:
    """The dry-run of the default target in ``workdir`` with ``change`` made (to a copy of the recipes for a
    run setting, in a configuration file of its own for the rest)."""
    config = {}
    for path in configfiles:
        config = deep_merge(config, load_yaml(path) or {})
    with tempfile.TemporaryDirectory(prefix="slice-", dir=workdir) as folder:
        extra = Path(folder) / "change.yaml"
        if change.key.startswith("run."):
            recipes_dir = Path(config.get("recipes_dir") or load_yaml(WORKFLOW / "config" / "config.yaml")["recipes_dir"])
            recipes_dir = recipes_dir if recipes_dir.is_absolute() else WORKFLOW / recipes_dir
            recipes = Path(folder) / "recipes"
            recipes.mkdir()
            for recipe in recipes_dir.glob("*.yaml"):
                text = recipe.read_text()
                if recipe.stem == run:
                    text = yaml.safe_dump(deep_merge(yaml.safe_load(text), change.override), sort_keys=False)
                (recipes / recipe.name).write_text(text)
            extra.write_text(yaml.safe_dump({"recipes_dir": str(recipes)}))
        else:
            extra.write_text(yaml.safe_dump(change.override))
        return planned_jobs(workdir, [*configfiles, extra])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a folder where the default runs are finished")
    parser.add_argument("--configfile", type=Path, nargs="*", default=[], help="as given to snakemake")
    parser.add_argument("--only", nargs="*", default=[], help="only settings whose key starts with one of these")
    args = parser.parse_args(argv)
    config = load_yaml(WORKFLOW / "config" / "config.yaml")
    for path in args.configfile:
        config = deep_merge(config, load_yaml(path) or {})
    runs = load_runs(copy.deepcopy(config), WORKFLOW)
    run = config["default_runs"][0]
    baseline = planned_jobs(args.workdir, args.configfile)
    print(f"(nothing changed)\t\t{baseline}", flush=True)
    for change in setting_changes(config, runs[run]["run"]):
        if args.only and not change.key.startswith(tuple(args.only)):
            continue
        jobs = plan_change(args.workdir, args.configfile, run, change)
        size = sum(jobs.values()) if isinstance(jobs, dict) else "refused"
        print(f"{change.key}\t{change.old} -> {change.new}\t{size}\t{jobs}", flush=True)


if __name__ == "__main__":
    main()
