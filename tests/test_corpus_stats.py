"""Corpus statistics from manifests with DuckDB."""

from __future__ import annotations

import csv

from slamming.data.manifests import MANIFEST_SCHEMA, REJECTED_SCHEMA, write_table
from slamming.data.stats import corpus_stats, stack_tables


def _row(i, split, seconds, text):
    return {"id": str(i), "path": f"{i}.flac", "duration": seconds, "sample_rate": 16000,
            "num_samples": int(seconds * 16000), "split": split, "text": text, "source": "t"}


def test_hours_utterances_and_words_per_split(tmp_path):
    rows = [_row(0, "train", 1800.0, "one two  three"), _row(1, "train", 1800.0, None),
            _row(2, "valid", 360.0, " four five ")]
    write_table(rows, MANIFEST_SCHEMA, tmp_path / "m.parquet")
    write_table([{"id": "x", "path": "x.wav", "reason": "empty: no samples", "source": "t"}], REJECTED_SCHEMA, tmp_path / "r.parquet")
    corpus_stats("c", str(tmp_path / "m.parquet"), str(tmp_path / "r.parquet"), str(tmp_path / "stats.csv"))
    stats = {r["split"]: r for r in csv.DictReader(open(tmp_path / "stats.csv"))}
    assert stats["train"]["utterances"] == "2" and float(stats["train"]["hours"]) == 1.0
    assert stats["train"]["words"] == "3" and stats["valid"]["words"] == "2"
    assert float(stats["valid"]["hours"]) == 0.1 and stats["valid"]["rejected_in_corpus"] == "1"

    corpus_stats("d", str(tmp_path / "m.parquet"), str(tmp_path / "r.parquet"), str(tmp_path / "stats2.csv"))
    stack_tables([str(tmp_path / "stats.csv"), str(tmp_path / "stats2.csv")], str(tmp_path / "all.csv"))
    table = list(csv.DictReader(open(tmp_path / "all.csv")))
    assert [(r["corpus"], r["split"]) for r in table] == [("c", "train"), ("c", "valid"), ("d", "train"), ("d", "valid")]
