"""Rule merge_word_alignments: a corpus's word alignments by one aligner (``slamming.data.alignment``) - its TTS,
for a synthesised corpus, or an ASR model's word timestamps (rule align_words) - one table from its shards'
(results/alignments/<aligner>/<corpus>.parquet): per utterance its words with their start and end in seconds,
or why it has none.

Command line::

    python -m workflow_scripts.merge_word_alignments --shards results/corpora/demo_stories/shards/*.words.parquet \\
        --out results/alignments/tts/demo_stories.parquet
"""

from __future__ import annotations

import logging
from collections import Counter

import pyarrow as pa

from slamming.artifacts import read_parquet
from slamming.data.alignment import WORDS_SCHEMA
from slamming.data.manifests import write_arrow
from slamming.logs import run_stage, setup_logging, stage_parser

log = logging.getLogger("merge_word_alignments")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--shards", nargs="+", required=True, help="the shards' word tables, in shard order")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    table = pa.concat_tables([read_parquet(path).cast(WORDS_SCHEMA) for path in args.shards])
    write_arrow(table, args.out)
    rows = table.to_pylist()
    aligned = sum(1 for r in rows if r["words"] is not None)
    log.info("%d utterances, %d with their words timed (%d words)", len(rows), aligned,
             sum(len(r["words"]) for r in rows if r["words"] is not None))
    for reason, count in Counter(r["reason"] for r in rows if r["words"] is None).most_common():
        log.warning("%d utterances without words: %s", count, reason)
    return 0


if __name__ == "__main__":
    run_stage(main)
