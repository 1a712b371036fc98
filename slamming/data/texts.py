"""Text for the synthesised alternatives of the full recipe's corpora: TinyStories and SWAG.

* ``tinystories``: the stories of roneneldan/TinyStories (Parquet, column ``text``), train and
  validation splits, as an utterances table (id, text, split) to be spoken (the sTinyStories recipe).
* ``swag``: SpokenSwag's preference triples from SWAG's train split (``regular`` config), gold
  examples only: prompt = sent1, chosen = sent2 + the gold ending, rejected = sent2 + one of the wrong
  endings chosen with the seed. Writes the triples table (id, prompt, chosen, rejected) and its
  utterances table (<id>_prompt, <id>_chosen, <id>_rejected, with the item id so that the three share
  one voice).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from slamming.artifacts import read_parquet
from slamming.data.corpora import parquet_files

log = logging.getLogger("prepare_text")


def tinystories(folder: Path) -> list[dict]:
    rows = []
    for theirs, ours in (("train", "train"), ("validation", "valid")):
        number = 0
        for path in parquet_files(folder, theirs):
            for text in read_parquet(path, columns=["text"]).column("text").to_pylist():
                text = " ".join((text or "").split())
                if text:
                    rows.append({"id": f"tinystories_{ours}_{number:07d}", "text": text, "split": ours})
                    number += 1
    return rows


def swag(folder: Path, seed: int) -> list[dict]:
    rows = []
    for path in parquet_files(folder, "train"):
        rows += read_parquet(path).to_pylist()
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
