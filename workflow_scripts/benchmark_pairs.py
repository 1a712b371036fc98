"""Rule benchmark_pairs: a benchmark's pair manifest (id, positive and negative utterance, their audio)
from a table of items, from file names (spoken StoryCloze's ``<n>_correct`` / ``<n>_incorrect``) or
from ZeroSpeech's gold.csv (sBLIMP); never from an order of file names (``slamming.benchmarks``).

Command line::

    python -m workflow_scripts.benchmark_pairs --table results/text/demo/storycloze.parquet --positive ending \\
        --negative contradicting_ending --benchmark sstorycloze \\
        --manifest results/corpora/demo_storycloze/manifest.parquet --out pairs.parquet
"""

from __future__ import annotations

import argparse
import logging

from slamming.benchmarks import gold_csv_pairs, make_pairs, suffix_pairs, write_pairs
from slamming.logs import run_stage, setup_logging

log = logging.getLogger("benchmark_pairs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", help="items whose utterances are <id>_<positive> and <id>_<negative>")
    parser.add_argument("--by-file-name", action="store_true", help="pair files <key>_<positive> with <key>_<negative>")
    parser.add_argument("--gold-csv", help="sBLIMP's gold.csv")
    parser.add_argument("--positive", help="suffix of the positive utterance")
    parser.add_argument("--negative", help="suffix of the negative utterance")
    parser.add_argument("--manifest", required=True, help="the corpus manifest with the audio")
    parser.add_argument("--benchmark", required=True, help="its name, for messages")
    parser.add_argument("--official", action="store_true", help="a published benchmark: a pair without audio stops with an error")
    parser.add_argument("--out", required=True)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    if args.gold_csv:
        pairs, missing = gold_csv_pairs(args.gold_csv, args.manifest)
    elif args.by_file_name:
        pairs, missing = suffix_pairs(args.manifest, args.positive, args.negative)
    else:
        pairs, missing = make_pairs(args.table, args.positive, args.negative, args.manifest)
    write_pairs(pairs, missing, args.benchmark, args.manifest, args.official, args.out, log)
    return 0


if __name__ == "__main__":
    run_stage(main)
