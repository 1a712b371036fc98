"""Corpus statistics with DuckDB: hours, utterances and words per corpus and split (the paper's Table 8),
and what each corpus kept and rejected of its audio.

``corpus`` writes one corpus's stats.csv next to its manifest, ``units`` the tokens per split of its
units; ``table`` stacks several stats.csv files into one table with their tokens (a run's corpora,
the shape of the paper's Table 8); ``summary`` puts a run's corpora and its packed windows into one
data.json.
"""

from __future__ import annotations

import csv
from pathlib import Path

from slamming.artifacts import check_parquet, read_json

# Kept files that a strict check (a folder of your own recordings: config audio_checks.audio_folder)
# would have turned away are counted, so that what the paper's corpora keep shows.
COUNTED_CLIPPED_FRACTION = 0.001
COUNTED_SHORT_SECONDS = 0.2

CORPUS_QUERY = f"""
WITH utterances AS (
    SELECT split, duration, clipped_fraction, silent,
           CASE WHEN text IS NULL OR trim(text) = '' THEN 0
                ELSE len(regexp_split_to_array(trim(text), '\\s+')) END AS words
    FROM read_parquet($manifest)
), rejected AS (
    SELECT count(*) AS n FROM read_parquet($rejected)
)
SELECT $corpus AS corpus, split,
       count(*) AS utterances,
       round(sum(duration) / 3600, 4) AS hours,
       sum(words) AS words,
       round(avg(duration), 2) AS mean_seconds,
       count(*) FILTER (WHERE clipped_fraction > {COUNTED_CLIPPED_FRACTION}) AS clipped_kept,
       count(*) FILTER (WHERE duration < {COUNTED_SHORT_SECONDS}) AS short_kept,
       count(*) FILTER (WHERE silent) AS silent_kept,
       (SELECT count(*) FROM utterances) AS kept_in_corpus,
       (SELECT n FROM rejected) AS rejected_in_corpus
FROM utterances
GROUP BY split
ORDER BY split
"""


def corpus_stats(corpus: str, manifest: str, rejected: str, out: str) -> None:
    import duckdb

    for table in (manifest, rejected):  # DuckDB's own message names no way to make the file again
        check_parquet(table)
    with duckdb.connect() as db:
        db.execute(f"COPY ({CORPUS_QUERY}) TO '{_quote(out)}' (HEADER, DELIMITER ',')",
                   {"manifest": manifest, "rejected": rejected, "corpus": corpus})


UNITS_QUERY = """
SELECT $corpus AS corpus, split, sum(len(units)) + 2 * count(*) AS tokens
FROM read_parquet($units)
GROUP BY split
ORDER BY split
"""


def units_stats(corpus: str, units: str, out: str) -> None:
    """Tokens (units, BOS and EOS: what training sees) per split of a corpus's units table."""
    import duckdb

    check_parquet(units)
    with duckdb.connect() as db:
        db.execute(f"COPY ({UNITS_QUERY}) TO '{_quote(out)}' (HEADER, DELIMITER ',')", {"corpus": corpus, "units": units})


def stack_tables(stats: list[str], out: str, tokens: list[str] = ()) -> None:
    """One table of corpus statistics; with ``tokens`` (units stats.csv files), a tokens column too."""
    import duckdb

    with duckdb.connect() as db:
        files = ", ".join(f"'{_quote(p)}'" for p in stats)
        query = f"SELECT * FROM read_csv([{files}], union_by_name = true)"
        if tokens:
            token_files = ", ".join(f"'{_quote(p)}'" for p in tokens)
            query = (f"SELECT s.*, t.tokens FROM ({query}) s LEFT JOIN read_csv([{token_files}], union_by_name = true) t "
                     f"USING (corpus, split)")
        db.execute(f"COPY ({query} ORDER BY corpus, split) TO '{_quote(out)}' (HEADER, DELIMITER ',')")


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _quote(path: str) -> str:
    return str(path).replace("'", "''")


def run_data_summary(corpora_csv: str | Path, packing_json: str | Path) -> dict:
    """A run's data in one record: its corpora (hours, utterances, words, tokens) and its packed windows."""
    with open(corpora_csv, newline="") as f:
        corpora = [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(f)]
    return {"corpora": corpora, "packing": read_json(packing_json), "packed_dir": str(Path(packing_json).parent)}
