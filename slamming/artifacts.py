"""Reading the workflow's own files (Parquet tables, .npy arrays, JSON, model folders): a truncated or
corrupt one stops its reader with one line that names it and says how to make it again, instead of a
traceback."""

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
    reason = " ".join(str(error).split()) or type(error).__name__  # whole: a reason cut mid-word says nothing
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


def check_parquet(path: str | Path) -> None:
    """Stop with one line when a Parquet file that another reader (DuckDB) is about to scan is broken:
    its footer and schema are read, which a truncated file fails."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.ParquetFile(str(path)).schema_arrow
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:
        raise unreadable(path, error) from None


def read_json(path: str | Path):
    """A JSON file of the workflow (a summary, metrics.json), or one clear line when it is broken."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise unreadable(path, error) from None


def load_causal_lm(folder: str | Path, **options):
    """``AutoModelForCausalLM.from_pretrained(folder, **options)``; a truncated or corrupt weights or
    config file stops with one line naming that file."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(folder, **options)
    except FileNotFoundError:
        raise
    except Exception as error:  # safetensors, JSON and transformers' own errors about a broken file
        text = f"{type(error).__name__} {error}".lower()
        broken = "model.safetensors" if "safetensor" in text else "config.json" if "json" in text else None
        if broken is None or not (Path(folder) / broken).exists():
            raise
        raise unreadable(Path(folder) / broken, error) from None


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """A digest of a file's contents, read in blocks (a packed array or an archive is a few GB)."""
    import hashlib

    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def file_records(folder: str | Path, names: list[str]) -> dict:
    """What a stage records of the files it wrote, for their readers to check: size and sha256."""
    return {name: {"bytes": (Path(folder) / name).stat().st_size, "sha256": file_digest(Path(folder) / name)} for name in names}


def size_problem(folder: str | Path, records: dict, report: str | Path) -> str | None:
    """One line on the first file whose size is not the one ``report`` records (a stat per file: cheap enough
    for every plan, so a truncated array is found even when its time was put back); None when all agree."""
    for name, record in records.items():
        path = Path(folder) / name
        if not path.exists():
            return f"{path} is missing; make it again with `snakemake -f {report}`"
        size = path.stat().st_size
        if size != record["bytes"]:
            return (f"{path} has {size} bytes where {report} records {record['bytes']} (truncated or replaced); make it "
                    f"again with `snakemake -f {report}`")
    return None


def check_file_records(folder: str | Path, records: dict, report: str | Path) -> None:
    """Stop with one line when a file differs from what ``report`` (the file that holds ``records``)
    says its stage wrote: a truncated or replaced array would otherwise be trained on."""
    problem = size_problem(folder, records, report)
    if problem:
        raise ArtifactUnreadable(problem)
    for name, record in records.items():
        path = Path(folder) / name
        if file_digest(path) != record["sha256"]:
            raise ArtifactUnreadable(f"{path} is not the file {report} records (its sha256 differs); make it again with "
                                     f"`snakemake -f {report}`")
