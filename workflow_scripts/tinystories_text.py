"""Rule tinystories_text: the stories of roneneldan/TinyStories (train and validation) as an utterances
table to be spoken again (the sTinyStories recipe, with the corpus stinystories_kokoro).

Command line::

    python -m workflow_scripts.tinystories_text --folder resources/sources/tinystories_text \\
        --out results/text/tinystories/stories_utterances.parquet
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.texts import tinystories

log = logging.getLogger("tinystories_text")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--folder", required=True, help="the hub snapshot (Parquet files)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    utterances = tinystories(Path(args.folder))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(utterances), args.out)
    log.info("%s: %d stories", args.out, len(utterances))
    return 0


if __name__ == "__main__":
    run_stage(main)
