"""Corpus manifests: one Parquet row per audio file, and a table of the files turned away.

A manifest has the columns of ``MANIFEST_SCHEMA``; ``path`` is relative to the workflow's working
folder (or absolute for files outside it). The rejected table has ``REJECTED_SCHEMA``: every input
that did not make it into the manifest is there with its reason, so nothing is dropped silently.
"""

from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from slamming.artifacts import read_parquet
from slamming.data.audio import AudioChecks, AudioRejected, audio_facts, is_audio_file, probe_audio

log = logging.getLogger(__name__)

MANIFEST_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("path", pa.string()),
    ("duration", pa.float64()),      # seconds
    ("sample_rate", pa.int32()),     # of the file as stored; readers resample
    ("num_samples", pa.int64()),
    ("split", pa.string()),          # train, valid, test ...
    ("text", pa.string()),           # transcript where known, else null
    ("source", pa.string()),         # where the audio came from (a TTS voice, a folder, a data set)
    # What the corpus's audio checks look at, measured where the file was made (null where only
    # the header was read): the checks then run on these, never by decoding again.
    ("clipped_fraction", pa.float64()),   # share of samples at full scale
    ("silent", pa.bool_()),               # every sample zero
])

REJECTED_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("path", pa.string()),
    ("reason", pa.string()),
    ("source", pa.string()),
])


def write_table(rows: list[dict], schema: pa.Schema, path: str | Path) -> None:
    """Write ``rows`` atomically (temporary name, then rename)."""
    write_arrow(pa.Table.from_pylist(rows, schema=schema), path)


def write_arrow(table: pa.Table, path: str | Path) -> None:
    """Write a table atomically: a killed job leaves a temporary file, never a half-written table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def read_table(path: str | Path, schema: pa.Schema | None = None) -> pa.Table:
    table = read_parquet(str(path))
    if schema is not None:
        missing = [name for name in schema.names if name not in table.column_names]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}; expected {', '.join(schema.names)}")
    return table


def merge_shards(shards: list[str | Path], out: str | Path, schema: pa.Schema, unique_ids: bool = True) -> int:
    """Concatenate shard tables into one; ids must be unique across shards."""
    tables = [read_table(p, schema).select(schema.names).cast(schema) for p in shards]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    if unique_ids and table.num_rows:
        ids = table.column("id").to_pylist()
        if len(set(ids)) != len(ids):
            seen, dupes = set(), set()
            for i in ids:
                (dupes if i in seen else seen).add(i)
            raise ValueError(f"{out}: duplicate ids across shards, e.g. {sorted(dupes)[:3]}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    return table.num_rows


def scan_audio_files(files: list[tuple[str, Path]], *, split_of, source: str, decode: bool = True,
                     texts: dict[str, str] | None = None):
    """Manifest and rejected rows for ``files`` given as (id, path).

    With ``decode`` every file is decoded in full: unreadable and non-finite files are rejected, and
    the share of clipped samples and silence are measured for the corpus's checks. Without it only
    the header is read (what very large corpora can afford): those facts stay unknown (null).
    """
    import soundfile as sf
    from tqdm import tqdm

    rows, rejected = [], []
    for utt_id, path in tqdm(files, desc=f"scan {source}", unit="file", file=sys.stderr):
        facts = {"clipped_fraction": None, "silent": None}
        try:
            info = probe_audio(path)
            if decode:
                try:
                    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as e:
                    raise AudioRejected(f"unreadable: {' '.join(str(e).split())[:160]}") from None
                if data.size == 0:
                    raise AudioRejected("empty: no samples")
                if not np.isfinite(data).all():
                    raise AudioRejected("corrupt: samples that are not finite numbers")
                facts = audio_facts(data)
        except AudioRejected as e:
            rejected.append({"id": utt_id, "path": str(path), "reason": e.reason, "source": source})
            continue
        rows.append({"id": utt_id, "path": str(path), "duration": info.duration, "sample_rate": info.sample_rate,
                     "num_samples": info.num_samples, "split": split_of(utt_id),
                     "text": (texts or {}).get(utt_id), "source": source, **facts})
    return rows, rejected


def scan_folder(folder: Path, corpus: str, settings: dict):
    """Manifest rows for an ``audio_folder`` corpus: ids are paths inside the folder, '/' made '__'.

    A transcript, where there is one, is a .txt file beside the audio with the same stem.
    """
    pattern = settings["glob"]
    candidates = sorted(p for p in folder.glob(pattern) if p.is_file())
    audio = [p for p in candidates if is_audio_file(p)]
    ignored = [p for p in candidates if not is_audio_file(p) and p.suffix.lower() != ".txt"]
    files, texts = [], {}
    for p in audio:
        utt_id = str(p.relative_to(folder).with_suffix("")).replace("/", "__")
        files.append((utt_id, p))
        transcript = p.with_suffix(".txt")
        if transcript.exists():
            texts[utt_id] = " ".join(transcript.read_text(encoding="utf-8", errors="replace").split())
    valid_fraction = settings["valid_fraction"]
    ids = [i for i, _ in files]
    valid = set(random.Random(0).sample(ids, round(valid_fraction * len(ids)))) if ids else set()
    default_split = settings["split"]
    rows, rejected = scan_audio_files(files, split_of=lambda i: "valid" if i in valid else default_split,
                                      source=f"folder:{corpus}", texts=texts)
    rejected += [{"id": str(p.relative_to(folder)), "path": str(p), "reason": f"not audio: extension {p.suffix or '(none)'}",
                  "source": f"folder:{corpus}"} for p in ignored]
    return rows, rejected


def rejected_path(manifest_path: str | Path) -> Path:
    """Where the rejected table of a manifest (or manifest shard) lives: beside it."""
    p = Path(manifest_path)
    return p.with_name(p.stem + ".rejected.parquet")


def write_manifest(rows: list[dict], rejected: list[dict], out: str | Path, rejected_out: str | Path, log) -> None:
    """A stage's manifest and rejected table, and a log line for each rejected file and for the whole."""
    write_table(rows, MANIFEST_SCHEMA, out)
    write_table(rejected, REJECTED_SCHEMA, rejected_out)
    for row in rejected:
        log.warning("rejected %s: %s", row["path"], row["reason"])
    log.info("%s: %d files (%.2f h), %d rejected", out, len(rows), sum(r["duration"] for r in rows) / 3600, len(rejected))


def apply_checks(candidates: pa.Table, checks: AudioChecks, source: str = "audio_checks") -> tuple[pa.Table, list[dict]]:
    """The rows of ``candidates`` that pass ``checks``, and a rejected row (with the reason) for each other."""
    if checks.needs_samples and candidates.num_rows and candidates["clipped_fraction"].null_count:
        unknown = candidates.filter(candidates["clipped_fraction"].is_null())["path"][0].as_py()
        raise ValueError(f"{unknown}: its samples were not read (the corpus is scanned by its headers), so "
                         "max_clipped_fraction and reject_silent cannot be checked; leave them null for this corpus")
    keep, rejected = [], []
    columns = candidates.select(["id", "path", "duration", "clipped_fraction", "silent"]).to_pydict()
    for i in range(candidates.num_rows):
        problem = checks.problem(columns["duration"][i], columns["clipped_fraction"][i], columns["silent"][i])
        keep.append(problem is None)
        if problem:
            rejected.append({"id": columns["id"][i], "path": columns["path"][i], "reason": problem, "source": source})
    return candidates.filter(pa.array(keep, type=pa.bool_())), rejected
