"""Checks the workflow makes when it starts, before Snakemake takes its lock or builds the DAG: targets
that name no run, and a lock held by a run still going (here or on another host) or left by a killed
one. They run when the Snakefile is read (``onstart`` runs after the lock is taken, and not in dry
runs)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from slamming.workflow.config import WORKFLOW_TEXT_LM

# Folders under results/ that hold artifacts shared by runs, not a run's own results.
SHARED_RESULTS = {"text", "text_corpora", "studies", "corpora", "units", "alignments", "packed", "models", "benchmarks", "vocoders", "metrics.csv",
                  "comparisons.csv"}
SHARED_MODELS = {WORKFLOW_TEXT_LM}


def unknown_run(targets, runs) -> str | None:
    """One line for the first target under results/<run>/ (or results/models/<run>/) whose run has no
    recipe, listing the runs there are; None when every target is fine."""
    for target in targets:
        parts = Path(str(target)).parts
        if len(parts) < 2 or parts[0] != "results":
            continue
        # results/<run>/ or results/models/<run>/; a model of the speech_lms registry is the run eval/<name>
        rest = parts[2:] if parts[1] == "models" and len(parts) > 2 and parts[2] not in SHARED_MODELS else parts[1:]
        run = f"eval/{rest[1]}" if rest[0] == "eval" and len(rest) > 1 else rest[0]
        if run in SHARED_RESULTS or run in runs or (parts[1] == "models" and run in SHARED_MODELS):
            continue
        trained = sorted(r for r in runs if not r.startswith("eval/") and "study" not in runs[r])
        evaluated = sorted(r for r in runs if r.startswith("eval/"))
        studied = sorted({runs[r]["study"] for r in runs if "study" in runs[r]})
        return (f"error: {target}: there is no run {run!r}; the runs are {', '.join(trained)} "
                f"(a run is a recipe, config/recipes/<run>.yaml)"
                + (f", and the evaluated models {', '.join(evaluated)} (config speech_lms)" if evaluated else "")
                + (f", and the variants of the studies {', '.join(studied)} (config/studies/<name>.yaml)" if studied else ""))
    return None


def _parsed_command_line(argv: list[str]):
    """Snakemake's own reading of its command line (``sys.argv``), or None for anything else; Snakemake
    tells a Snakefile its targets only after reading it."""
    if not argv or "snakemake" not in argv[0]:
        return None
    try:
        from snakemake.cli import get_argument_parser

        return get_argument_parser().parse_known_args(argv[1:])[0]
    except (SystemExit, Exception):  # an unusual command line: Snakemake will say what it makes of it
        return None


def command_line_targets(argv: list[str]) -> list[str]:
    """The targets on a Snakemake command line; empty for anything but Snakemake's own command line."""
    parsed = _parsed_command_line(argv)
    return list(parsed.targets or []) if parsed is not None else []


# Options with which Snakemake looks at the workflow without running jobs, and so takes no lock.
LOOKING_OPTIONS = ("dryrun", "nolock", "unlock", "lint", "list_rules", "list_target_rules", "dag", "rulegraph", "filegraph",
                   "d3dag", "summary", "detailed_summary", "list_changes", "list_input_changes", "list_params_changes",
                   "list_untracked", "debug_dag", "archive", "cleanup_metadata", "delete_all_output", "delete_temp_output")


def command_line_takes_lock(argv: list[str]) -> bool:
    """Whether this Snakemake command runs jobs and so takes the folder's lock (a dry run does not)."""
    parsed = _parsed_command_line(argv)
    if parsed is None:
        return False
    return not any(getattr(parsed, option, None) for option in LOOKING_OPTIONS) and not (parsed.report and not parsed.report_after_run)


def before_dag(targets: list[str], runs, workdir: Path, takes_lock: bool = True) -> tuple[str | None, str | None]:
    """What the main Snakemake process does before its lock: (an error that stops it, a note). A target
    under results/<run>/ must name a run. A lock held by a run that is still going stops a run that
    would take it, in one line naming that run; a lock left by a run of this host that no longer runs (it
    was killed) goes, so that the same command runs again without ``snakemake --unlock``."""
    unknown = unknown_run(targets, runs)
    if unknown:
        return unknown, None
    decision = lock_decision(workdir)
    if decision is not None and decision.startswith("error"):
        return (decision, None) if takes_lock else (None, None)
    note = None
    if decision == "stale" and takes_lock:
        shutil.rmtree(workdir / ".snakemake" / "locks")
        note = "removed the lock of a snakemake that no longer runs here (it was killed)"
    if takes_lock:
        record_lock_owner(workdir)
    return None, note


# Beside Snakemake's .snakemake/locks/ (not in it: Snakemake reads every file there as a lock): which
# host and process hold them. Snakemake's lock files name no process, so a lock left by a killed run
# could not be told from one of a run on another node of a cluster that shares the folder.
LOCK_OWNER = Path(".snakemake") / "lock_owner.json"


def record_lock_owner(workdir: Path) -> None:
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    path = workdir / LOCK_OWNER
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(owner) + "\n")
    tmp.replace(path)


def read_lock_owner(workdir: Path) -> dict | None:
    try:
        owner = json.loads((workdir / LOCK_OWNER).read_text())
        return owner if isinstance(owner, dict) and {"host", "pid"} <= owner.keys() else None
    except (OSError, ValueError):
        return None


def lock_decision(workdir: Path, host: str | None = None) -> str | None:
    """None when the folder is not locked; "stale" when its lock is this host's and its run is gone;
    otherwise one line (starting "error:") saying who holds it and what to do."""
    locks = workdir / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return None
    host = host or socket.gethostname()
    owner = read_lock_owner(workdir)
    if owner is None:
        running = snakemake_running_here(workdir)
        if running:
            return (f"error: another snakemake (pid {running}) is running in {workdir}: wait for it to finish "
                    "(snakemake -n shows what is left)")
        return (f"error: {workdir / '.snakemake/locks'} holds a lock with no record of its run ({LOCK_OWNER} is missing): if no "
                "snakemake runs in this folder on any machine, run snakemake --unlock")
    if owner["host"] != host:
        return (f"error: a snakemake on host {owner['host']} (pid {owner['pid']}, started {owner.get('started', '?')}) holds "
                f"the lock of {workdir}: wait for it to finish; if it no longer runs there, run snakemake --unlock")
    if int(owner["pid"]) in snakemake_processes(workdir):
        return (f"error: another snakemake (pid {owner['pid']}, started {owner.get('started', '?')}) is running in "
                f"{workdir}: wait for it to finish (snakemake -n shows what is left)")
    return "stale"


def snakemake_processes(workdir: Path) -> set[int]:
    """The Snakemake processes of this host working in ``workdir``, other than this process and the ones
    that started it. Where processes cannot be listed (no /proc) the answer is {-1}, an unknown one, so
    that no lock is ever taken away there."""
    proc = Path("/proc")
    if not proc.is_dir():
        return {-1}
    mine, pid = set(), os.getpid()
    while pid > 1:  # this process and its ancestors (a shell or wrapper that started this snakemake)
        mine.add(pid)
        try:
            pid = int((proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    workdir, found = workdir.resolve(), set()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(Path(a.decode(errors="replace")).name == "snakemake" for a in arguments[:3]) \
                    and b"snakemake" not in arguments[:3]:
                continue
            if Path(os.readlink(entry / "cwd")).resolve() == workdir:
                found.add(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return found


def snakemake_running_here(workdir: Path) -> int | None:
    """The pid of a Snakemake of this host working in ``workdir`` (-1: processes cannot be listed), or None."""
    return min(snakemake_processes(workdir), default=None)
