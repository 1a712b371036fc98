"""Rule demo_text: one set of the demo's seeded text (``slamming.demo_text``) - its table and its
utterances table (id, text, split) that synthesis speaks. The same seed gives the same text.

Command line::

    python -m workflow_scripts.demo_text storycloze --settings '{"seed": 1, "stories": {...}, ...}' \\
        --out-dir results/text/demo
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slamming.demo_text import SETS, generate, vocabulary
from slamming.logs import run_stage, setup_logging

log = logging.getLogger("demo_text")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", choices=sorted(SETS), help="which set to write")
    parser.add_argument("--settings", required=True, help="the demo_text config section (or its part for this set) as JSON")
    parser.add_argument("--out-dir", required=True, help="writes <set>.parquet and <set>_utterances.parquet here")
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    table, utterances = generate(args.set, json.loads(args.settings))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path, rows in ((out / f"{args.set}.parquet", table), (out / f"{args.set}_utterances.parquet", utterances)):
        pq.write_table(pa.Table.from_pylist(rows), path)
        log.info("%s: %d rows", path, len(rows))
    log.info("%s: %d utterances, %d words, a vocabulary of %d words", args.set, len(utterances),
             sum(len(r["text"].split()) for r in utterances), len(vocabulary(utterances)))
    return 0


if __name__ == "__main__":
    run_stage(main)
