"""What every stage's command line shares: logging to a file and stderr, and one line instead of a
traceback for a problem the user can fix."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Callable, NoReturn

log = logging.getLogger("stage")


class StageError(Exception):
    """A problem the user can fix, said in one line: what, which file or setting, and what to do."""


def run_stage(main: Callable[[], int | None]) -> NoReturn:
    """Run a stage's ``main``; a ``StageError`` ends it with its one line (and exit status 1)."""
    try:
        code = main()
    except StageError as error:
        # One line on stderr (what Snakemake shows of a failed job), and the same line in the job's log file.
        record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (error,), None)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)
        print(f"error: {error}", file=sys.stderr)
        code = 1
    sys.exit(code or 0)


def stage_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line every stage starts from: its module docstring as the help, and ``--log-file``
    (each rule passes its log here; the stage logs to it and to stderr)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-file", help="also write the log here")
    return parser


def json_argument(text: str):
    """A ``--settings``-style option: a job's settings as JSON (the plan's canonical form)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error})") from None


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO, history: Path | None = None) -> None:
    """Log to stderr and, when given, to ``log_file``.

    Snakemake deletes a job's log before it runs the job again. A stage that resumes (training) passes
    ``history``, a file of its own beside its checkpoints that every attempt appends to: the log then
    starts with the earlier, killed attempts, so nothing of them is lost.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        if history is not None and history.exists() and not Path(log_file).exists():
            shutil.copy(history, log_file)
            with open(log_file, "a", encoding="utf-8") as f:
                f.write("--- the attempts above ended before finishing (killed or failed); a new attempt follows ---\n")
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    if history is not None:
        history.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(history, mode="a", encoding="utf-8"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True)


def setup_stage(log_file: str | Path | None = None, threads: int | None = None, history: Path | None = None) -> None:
    """What every model-using stage does first: logging, no download-style progress bars from
    transformers (they flood job logs), and the CPU threads it was given."""
    setup_logging(log_file, history=history)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if threads:
        import torch

        torch.set_num_threads(threads)
