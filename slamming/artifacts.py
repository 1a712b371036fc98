"""Reading the workflow's own files (Parquet tables, .npy arrays): a truncated or corrupt one stops
its reader with one line that names it and says how to make it again, instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slamming.logs import StageError


class ArtifactUnreadable(StageError):
    """A file of the workflow that exists but cannot be read."""


def rebuild_hint(path: str | Path) -> str:
    """How to make a broken file again: force its rule, or, for a source, fetch it again."""
    path = Path(path)
    parts = path.parts
    if "resources" in parts and "sources" in parts:
        name = parts[parts.index("sources") + 1].removesuffix(".json")
        return f"delete resources/sources/{name} and resources/sources/{name}.json and run again to fetch it anew"
    return f"make it again with `snakemake -f {path}` (or delete it and run the same command again)"


def unreadable(path: str | Path, error: Exception) -> ArtifactUnreadable:
    reason = " ".join(str(error).split())[:160] or type(error).__name__
    return ArtifactUnreadable(f"{path} cannot be read ({reason}); {rebuild_hint(path)}")


def read_parquet(path: str | Path, columns: list[str] | None = None):
    """A Parquet table, or one clear line when the file is broken."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(str(path), columns=columns)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:
        raise unreadable(path, error) from None


def load_npy(path: str | Path, mmap_mode: str | None = None) -> np.ndarray:
    """A .npy array (memory-mapped when asked), or one clear line when the file is broken."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as error:
        raise unreadable(path, error) from None
