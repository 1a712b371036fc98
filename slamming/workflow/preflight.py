"""Checks the workflow makes when it starts, before Snakemake takes its lock or builds the DAG: targets
that name no run, a lock left by a killed Snakemake, and audio folders whose files changed. They run
when the Snakefile is read (``onstart`` runs after the lock is taken, and not in dry runs)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from slamming.workflow.config import WORKFLOW_TEXT_LM

# Folders under results/ that hold artifacts shared by runs, not a run's own results.
SHARED_RESULTS = {"text", "corpora", "units", "packed", "models", "benchmarks", "vocoders", "metrics.csv"}
SHARED_MODELS = {WORKFLOW_TEXT_LM}


def unknown_run(targets, runs) -> str | None:
    """One line for the first target under results/<run>/ (or results/models/<run>/) whose run has no
    recipe, listing the runs there are; None when every target is fine."""
    for target in targets:
        parts = Path(str(target)).parts
        if len(parts) < 2 or parts[0] != "results":
            continue
        run = parts[2] if parts[1] == "models" and len(parts) > 2 and parts[2] not in SHARED_MODELS else parts[1]
        if run in SHARED_RESULTS or run in runs or (parts[1] == "models" and run in SHARED_MODELS):
            continue
        return (f"error: {target}: there is no run {run!r}; the runs are {', '.join(sorted(runs))} "
                f"(a run is a recipe, config/recipes/<run>.yaml)")
    return None


def command_line_targets(argv: list[str]) -> list[str]:
    """The targets on a Snakemake command line (``sys.argv``); Snakemake tells a Snakefile its targets
    only after reading it. Empty for anything but Snakemake's own command line."""
    if not argv or "snakemake" not in argv[0]:
        return []
    try:
        from snakemake.cli import get_argument_parser

        return list(get_argument_parser().parse_known_args(argv[1:])[0].targets or [])
    except (SystemExit, Exception):  # an unusual command line: Snakemake will say what it makes of it
        return []


def before_dag(targets: list[str], runs, workdir: Path) -> tuple[str | None, str | None]:
    """What the main Snakemake process does before its lock: (an error that stops it, a note). A target
    under results/<run>/ must name a run; a lock left by a Snakemake that no longer runs here (it was
    killed) goes, so that the same command runs again without ``snakemake --unlock``."""
    unknown = unknown_run(targets, runs)
    if unknown:
        return unknown, None
    if clear_stale_lock(workdir):
        return None, "removed the lock of a snakemake that no longer runs here (it was killed)"
    return None, None


def other_snakemake_running(workdir: Path) -> bool:
    """Whether a Snakemake other than this process (and the ones that started it) works in ``workdir``.
    Where processes cannot be listed (no /proc), the answer is yes: a lock is then never taken away."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    mine, pid = set(), os.getpid()
    while pid > 1:  # this process and its ancestors (a shell or wrapper that started this snakemake)
        mine.add(pid)
        try:
            pid = int((proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    workdir = workdir.resolve()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(Path(a.decode(errors="replace")).name == "snakemake" for a in arguments[:3]) \
                    and b"snakemake" not in arguments[:3]:
                continue
            if Path(os.readlink(entry / "cwd")).resolve() == workdir:
                return True
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return False


def clear_stale_lock(workdir: Path) -> bool:
    """Remove Snakemake's lock when no Snakemake is running in ``workdir``: a lock then belongs to one
    that was killed (SIGKILL, a lost terminal), and would otherwise stop the same command until
    ``snakemake --unlock``. True when a lock was removed."""
    locks = workdir / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()) or other_snakemake_running(workdir):
        return False
    shutil.rmtree(locks)
    return True


def folder_listing(folder: Path, pattern: str) -> str:
    """What a folder of audio holds now: the name, size and modification time of each file the pattern
    matches and of the transcripts beside them, as one digest. A change of a file, a new file or a
    deleted one changes it."""
    if not folder.is_dir():
        return "missing"
    files = set()
    for path in folder.glob(pattern):
        files.update(file for file in (path, path.with_suffix(".txt")) if file.is_file())
    digest = hashlib.sha256()
    for file in sorted(files):
        stat = file.stat()
        digest.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
