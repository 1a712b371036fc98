"""What a data source holds, as the param of the first job that reads it (slamming/workflow/contents.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from slamming.workflow.contents import SourceContents


def recording(path: Path, seed: int, seconds: float = 2.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.random.default_rng(seed).uniform(-0.3, 0.3, int(16000 * seconds)).astype(np.float32)
    sf.write(path, samples, 16000, format="FLAC", subtype="PCM_16")


def libri_light_folder(root: Path) -> Path:
    for speaker in (100, 101):
        recording(root / f"small/{speaker}/book/{speaker}_0.flac", seed=speaker)
        (root / f"small/{speaker}/book/{speaker}_0.json").write_text('{"voice_activity": [[0.0, 2.0]]}')
    return root


def test_a_recording_replaced_with_cp_p_is_seen_and_named_in_the_log(tmp_path):
    source = libri_light_folder(tmp_path / "librilight")
    contents = SourceContents(tmp_path / "cache", log=tmp_path / "logs/sources.log")
    before = contents.digest("librilight", source)
    assert SourceContents(tmp_path / "cache").digest("librilight", source) == before  # the same plan again

    # Another recording of the same length under the same name, its time set back as `cp -p` does.
    target = source / "small/100/book/100_0.flac"
    stat = target.stat()
    recording(tmp_path / "other.flac", seed=7)
    shutil.copy(tmp_path / "other.flac", target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert target.stat().st_mtime_ns == stat.st_mtime_ns
    contents = SourceContents(tmp_path / "cache", log=tmp_path / "logs/sources.log")
    assert contents.digest("librilight", source) != before
    assert "source librilight" in (log := (tmp_path / "logs/sources.log").read_text())
    assert "contents changed 1 (small/100/book/100_0.flac)" in log


def test_times_and_a_copy_elsewhere_change_nothing_and_added_or_deleted_files_do(tmp_path):
    source = libri_light_folder(tmp_path / "librilight")
    before = SourceContents(tmp_path / "cache").digest("librilight", source)
    os.utime(source / "small/101/book/101_0.flac")  # touched: the same contents
    assert SourceContents(tmp_path / "cache").digest("librilight", source) == before
    copy = tmp_path / "elsewhere"
    shutil.copytree(source, copy)  # new inodes and times, the same files
    assert SourceContents(tmp_path / "cache").digest("librilight", copy) == before

    recording(source / "small/102/book/102_0.flac", seed=102)
    added = SourceContents(tmp_path / "cache", log=tmp_path / "sources.log").digest("librilight", source)
    assert added != before and "added 1 (small/102/book/102_0.flac)" in (tmp_path / "sources.log").read_text()
    (source / "small/102/book/102_0.flac").unlink()
    assert SourceContents(tmp_path / "cache").digest("librilight", source) == before


def test_a_hub_parquet_shard_with_rows_dropped_is_seen(tmp_path):
    source = tmp_path / "hub/data"
    source.mkdir(parents=True)
    rows = {"id": [f"u{i}" for i in range(500)], "text": ["once upon a time"] * 500}
    pq.write_table(pa.table(rows), source / "train-00000.parquet")
    before = SourceContents(tmp_path / "cache").digest("hub", tmp_path / "hub")
    pq.write_table(pa.table({k: v[:-3] for k, v in rows.items()}), source / "train-00000.parquet")
    assert SourceContents(tmp_path / "cache").digest("hub", tmp_path / "hub") != before


def test_a_symlinked_local_source_is_followed_and_a_missing_one_says_so(tmp_path):
    source = libri_light_folder(tmp_path / "librilight")
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources/librilight").symlink_to(source)
    assert (SourceContents(tmp_path / "a").digest("librilight", tmp_path / "sources/librilight")
            == SourceContents(tmp_path / "b").digest("librilight", source))
    assert SourceContents(tmp_path / "c").digest("nothing", tmp_path / "absent") == "missing"
