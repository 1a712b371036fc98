"""Rule swag_text: SpokenSwag's preference triples from SWAG's train split, gold examples only: prompt =
sent1, chosen = sent2 + the gold ending, rejected = sent2 + a seeded wrong ending; the triples table and
its utterances table, to be spoken again (the corpus spokenswag_kokoro).

Command line::

    python -m workflow_scripts.swag_text --folder resources/sources/swag_text --seed 0 --out-dir results/text/swag
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slamming.logs import run_stage, setup_logging
from slamming.texts import swag

log = logging.getLogger("swag_text")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True, help="the hub snapshot (Parquet files)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice of wrong endings")
    parser.add_argument("--out-dir", required=True, help="writes spokenswag.parquet and spokenswag_utterances.parquet here")
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    triples = swag(Path(args.folder), args.seed)
    pq.write_table(pa.Table.from_pylist(triples), out / "spokenswag.parquet")
    utterances = [{"id": f"{t['id']}_{part}", "text": t[part], "split": "train", "item": t["id"]}
                  for t in triples for part in ("prompt", "chosen", "rejected")]
    pq.write_table(pa.Table.from_pylist(utterances), out / "spokenswag_utterances.parquet")
    log.info("%d triples, %d utterances", len(triples), len(utterances))
    return 0


if __name__ == "__main__":
    run_stage(main)
