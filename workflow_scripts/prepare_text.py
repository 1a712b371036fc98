"""Text for the synthesised alternatives of the full recipe's corpora: TinyStories and SWAG.

* ``tinystories``: the stories of roneneldan/TinyStories (Parquet, column ``text``), train and
  validation splits, as an utterances table (id, text, split) to be spoken (the sTinyStories recipe).
* ``swag``: SpokenSwag's preference triples from SWAG's train split (``regular`` config), gold
  examples only: prompt = sent1, chosen = sent2 + the gold ending, rejected = sent2 + one of the wrong
  endings chosen with the seed. Writes the triples table (id, prompt, chosen, rejected) and its
  utterances table (<id>_prompt, <id>_chosen, <id>_rejected, with the item id so that the three share
  one voice).

Command line::

    python -m workflow_scripts.prepare_text tinystories --folder resources/sources/tinystories_text --out-dir results/text/tinystories
    python -m workflow_scripts.prepare_text swag --folder resources/sources/swag_text --seed 0 --out-dir results/text/swag
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from workflow_scripts.logs import setup_logging
from workflow_scripts.prepare_corpus import parquet_files

log = logging.getLogger("prepare_text")


def tinystories(folder: Path) -> list[dict]:
    rows = []
    for theirs, ours in (("train", "train"), ("validation", "valid")):
        number = 0
        for path in parquet_files(folder, theirs):
            for text in pq.read_table(path, columns=["text"]).column("text").to_pylist():
                text = " ".join((text or "").split())
                if text:
                    rows.append({"id": f"tinystories_{ours}_{number:07d}", "text": text, "split": ours})
                    number += 1
    return rows


def swag(folder: Path, seed: int) -> list[dict]:
    rows = []
    for path in parquet_files(folder, "train"):
        rows += pq.read_table(path).to_pylist()
    triples = []
    for row in rows:
        if row.get("gold-source") != "gold":
            continue
        gold = int(row["label"])
        # Seeded by the example, so adding or removing examples does not change the others' negatives.
        wrong = random.Random(f"{seed}/{row['video-id']}/{row['fold-ind']}").choice([i for i in range(4) if i != gold])
        triples.append({"id": f"swag_{len(triples):06d}", "prompt": row["sent1"],
                        "chosen": f"{row['sent2']} {row[f'ending{gold}']}", "rejected": f"{row['sent2']} {row[f'ending{wrong}']}"})
    return triples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["tinystories", "swag"])
    parser.add_argument("--folder", required=True, help="the hub snapshot (Parquet files)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.kind == "tinystories":
        utterances = tinystories(Path(args.folder))
        pq.write_table(pa.Table.from_pylist(utterances), out / "stories_utterances.parquet")
    else:
        triples = swag(Path(args.folder), args.seed)
        pq.write_table(pa.Table.from_pylist(triples), out / "spokenswag.parquet")
        utterances = [{"id": f"{t['id']}_{part}", "text": t[part], "split": "train", "item": t["id"]}
                      for t in triples for part in ("prompt", "chosen", "rejected")]
        pq.write_table(pa.Table.from_pylist(utterances), out / "spokenswag_utterances.parquet")
    log.info("%s: %d utterances", args.kind, len(utterances))
    return 0


if __name__ == "__main__":
    sys.exit(main())
