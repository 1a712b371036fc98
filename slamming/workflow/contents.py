"""What a data source holds now, as a digest: a param of the first job that reads the source, so that a
recording replaced under the same name, a hub Parquet shard replaced or a file added or deleted
re-runs that job and what follows from it.

The rule, one for every kind of source (Libri-Light and LibriSpeech folders, hub Parquet shards, a
folder of your own recordings, each whether ``local:`` or materialised):

- every file counts by its path in the folder, its size, and a digest of its first and last
  ``SAMPLE_BYTES`` bytes. A FLAC file's first bytes hold the MD5 of all its audio (STREAMINFO), and a
  Parquet file's last bytes its footer (row counts and column statistics), so for both the sample is
  a digest of the whole contents; for other audio it is the start and end of the recording.
- A file is read only when its size, modification time, inode or status-change time differ from
  the last plan's (kept in ``.snakemake/slamming/contents/``). ``cp -p`` and ``rsync -a`` keep a
  file's modification time, not its status-change time or inode, so a file replaced that way is
  read again. Copying the whole folder to another disk reads every file's sample once, and, their
  contents being the same, re-runs nothing.
- What changed since the last plan (added, deleted, contents) is printed and appended to
  ``logs/sources.log``.

At Libri-Light's size (about 440 k files) a plan costs one ``stat`` per file (a few seconds) and, the
first time only, two small reads per file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

SAMPLE_BYTES = 4096  # FLAC's STREAMINFO is in its first 42 bytes; a Parquet footer ends its last bytes


def sample_digest(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= 2 * SAMPLE_BYTES:
            digest.update(f.read())
        else:
            digest.update(f.read(SAMPLE_BYTES))
            f.seek(size - SAMPLE_BYTES)
            digest.update(f.read(SAMPLE_BYTES))
    return digest.hexdigest()[:32]


def folder_files(folder: Path, pattern: str | None = None) -> list[Path]:
    """The files of ``folder`` (following a symlinked ``local:`` source), or those ``pattern`` matches and
    the transcripts (.txt) beside them."""
    if pattern is not None:
        files = set()
        for path in folder.glob(pattern):
            files.update(file for file in (path, path.with_suffix(".txt")) if file.is_file())
        return sorted(files)
    return sorted(Path(top) / name for top, _, names in os.walk(folder, followlinks=True) for name in names)


class SourceContents:
    """Digests of source folders, with the samples of unchanged files kept between plans in ``cache``."""

    def __init__(self, cache: str | Path, log: str | Path | None = None):
        self.cache, self.log = Path(cache), Path(log) if log else None

    def listing(self, name: str, folder: Path, pattern: str | None = None) -> dict[str, list]:
        """{path in the folder: [size, sample digest]} of the source ``name`` now, and what changed is told."""
        folder = Path(folder)
        record_file = self.cache / f"{name}.json"
        try:
            before = json.loads(record_file.read_text())
        except (OSError, ValueError):
            before = {}
        now, listing = {}, {}
        for path in folder_files(folder, pattern) if folder.is_dir() else []:
            stat = path.stat()
            key = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
            relative = str(path.relative_to(folder))
            old = before.get(relative)
            sample = old[4] if old and old[:4] == key else sample_digest(path, stat.st_size)
            now[relative] = key + [sample]
            listing[relative] = [stat.st_size, sample]
        if before and now != before:
            self._tell(name, folder, before, now)
        if now != before:
            self.cache.mkdir(parents=True, exist_ok=True)
            tmp = record_file.with_name(f"{record_file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(now, separators=(",", ":")))
            tmp.replace(record_file)
        return listing

    def digest(self, name: str, folder: str | Path, pattern: str | None = None) -> str:
        """The contents of a source as 16 hex digits. Never kept within a run: Snakemake asks when a job
        starts, and a folder made by an earlier job of the same run must count as it is then."""
        listing = self.listing(name, Path(folder), pattern)
        if not listing:
            return "missing"
        text = "\n".join(f"{path}\0{size}\0{sample}" for path, (size, sample) in sorted(listing.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _tell(self, name: str, folder: Path, before: dict, now: dict) -> None:
        changed = {
            "added": sorted(set(now) - set(before)),
            "deleted": sorted(set(before) - set(now)),
            "contents changed": sorted(p for p in set(now) & set(before)
                                       if now[p][0] != before[p][0] or now[p][4] != before[p][4]),
        }
        parts = [f"{what} {len(files)} ({', '.join(files[:5])}{', ...' if len(files) > 5 else ''})"
                 for what, files in changed.items() if files]
        if not parts:  # only times or inodes moved (a copy, a touch): the contents are the same
            return
        line = f"source {name} ({folder}) changed since the last plan: {'; '.join(parts)}"
        print(line, file=sys.stderr)
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
