"""Rule demo_text: one set of the demo's seeded text (``slamming.data.demo_text``) - its table and its
utterances table (id, text, split) that synthesis speaks. The same seed gives the same text.

Command line::

    python -m workflow_scripts.demo_text storycloze --settings '{"seed": 1, "stories": {...}, ...}' \\
        --table results/text/demo/storycloze.parquet --utterances results/text/demo/storycloze_utterances.parquet
"""

from __future__ import annotations

import json
import logging

import pyarrow as pa

from slamming.data.demo_text import SETS, generate, vocabulary
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import write_arrow

log = logging.getLogger("demo_text")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("set", choices=sorted(SETS), help="which set to write")
    parser.add_argument("--settings", required=True, help="the demo_text config section (or its part for this set) as JSON")
    parser.add_argument("--table", required=True, help="where the set's table goes (.parquet)")
    parser.add_argument("--utterances", required=True, help="where its utterances go (.parquet)")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    table, utterances = generate(args.set, json.loads(args.settings))
    for path, rows in ((args.table, table), (args.utterances, utterances)):
        write_arrow(pa.Table.from_pylist(rows), path)
        log.info("%s: %d rows", path, len(rows))
    log.info("%s: %d utterances, %d words, a vocabulary of %d words", args.set, len(utterances),
             sum(len(r["text"].split()) for r in utterances), len(vocabulary(utterances)))
    return 0


if __name__ == "__main__":
    run_stage(main)
