"""Corpus statistics with DuckDB: hours, utterances and words per corpus and split (the paper's Table 8).

``corpus`` writes one corpus's stats.csv next to its manifest, ``units`` the tokens per split of its
units; ``table`` stacks several stats.csv files into one table with their tokens (a run's corpora,
the shape of the paper's Table 8); ``summary`` puts a run's corpora and its packed windows into one
data.json.

Command line::

    python -m workflow_scripts.corpus_stats corpus --corpus demo_stories \\
        --manifest results/corpora/demo_stories/manifest.parquet \\
        --rejected results/corpora/demo_stories/rejected.parquet --out results/corpora/demo_stories/stats.csv
    python -m workflow_scripts.corpus_stats table --stats a/stats.csv b/stats.csv --out results/demo/corpora.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

CORPUS_QUERY = """
WITH utterances AS (
    SELECT split, duration,
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
       (SELECT n FROM rejected) AS rejected_in_corpus
FROM utterances
GROUP BY split
ORDER BY split
"""


def corpus_stats(corpus: str, manifest: str, rejected: str, out: str) -> None:
    import duckdb

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("corpus", help="stats.csv of one corpus")
    one.add_argument("--corpus", required=True)
    one.add_argument("--manifest", required=True)
    one.add_argument("--rejected", required=True)
    one.add_argument("--out", required=True)
    many = commands.add_parser("table", help="stack several stats.csv files")
    many.add_argument("--stats", nargs="+", required=True)
    many.add_argument("--tokens", nargs="*", default=[], help="units stats.csv files: adds a tokens column")
    many.add_argument("--out", required=True)
    units = commands.add_parser("units", help="tokens per split of a units table")
    units.add_argument("--corpus", required=True)
    units.add_argument("--units", required=True)
    units.add_argument("--out", required=True)
    summary = commands.add_parser("summary", help="a run's data in one JSON: its corpora and its packed windows")
    summary.add_argument("--corpora", required=True, help="the run's corpora.csv")
    summary.add_argument("--packing", required=True, help="the run's packing.json")
    summary.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if args.command == "corpus":
        corpus_stats(args.corpus, args.manifest, args.rejected, args.out)
    elif args.command == "table":
        stack_tables(args.stats, args.out, args.tokens)
    elif args.command == "units":
        units_stats(args.corpus, args.units, args.out)
    else:
        with open(args.corpora, newline="") as f:
            corpora = [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(f)]
        report = {"corpora": corpora, "packing": json.loads(Path(args.packing).read_text()),
                  "packed_dir": str(Path(args.packing).parent)}
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(Path(args.out).read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
