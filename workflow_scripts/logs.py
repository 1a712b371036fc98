"""Logging set-up shared by every stage's command line: a log file for the record, stderr for people."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, to ``log_file`` (appended, so a resumed job keeps its history)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True)


def setup_stage(log_file: str | Path | None = None, threads: int | None = None) -> None:
    """What every model-using stage does first: logging, no download-style progress bars from
    transformers (they flood job logs), and the CPU threads it was given."""
    setup_logging(log_file)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if threads:
        import torch

        torch.set_num_threads(threads)
