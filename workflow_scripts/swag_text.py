"""Rule swag_text: SpokenSwag's preference triples from SWAG's train split, gold examples only: prompt =
sent1, chosen = sent2 + the gold ending, rejected = sent2 + a seeded wrong ending; the triples table and
its utterances table, to be spoken again (the corpus spokenswag_kokoro).

Command line::

    python -m workflow_scripts.swag_text --folder resources/sources/swag_text --seed 0 \\
        --triples results/text/swag/spokenswag.parquet --utterances results/text/swag/spokenswag_utterances.parquet
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa

from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.data.manifests import write_arrow
from slamming.data.texts import swag

log = logging.getLogger("swag_text")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--folder", required=True, help="the hub snapshot (Parquet files)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice of wrong endings")
    parser.add_argument("--triples", required=True, help="where the triples go (.parquet)")
    parser.add_argument("--utterances", required=True, help="where their utterances go (.parquet)")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    triples = swag(Path(args.folder), args.seed)
    write_arrow(pa.Table.from_pylist(triples), args.triples)
    utterances = [{"id": f"{t['id']}_{part}", "text": t[part], "split": "train", "item": t["id"]}
                  for t in triples for part in ("prompt", "chosen", "rejected")]
    write_arrow(pa.Table.from_pylist(utterances), args.utterances)
    log.info("%d triples, %d utterances", len(triples), len(utterances))
    return 0


if __name__ == "__main__":
    run_stage(main)
