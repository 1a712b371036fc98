"""Likelihood benchmarks (sBLIMP, sStoryCloze, tStoryCloze, SALMon): does the model prefer the right one of
each pair?

A benchmark is a manifest of pairs - id, positive utterance, negative utterance, with their audio -
never an order of file names. Each utterance is scored from its units (the run's tokeniser, audio
resampled as needed by the extraction) as the log-likelihood of its units after BOS, summed and
averaged over the units. A pair counts 1 when the positive scores higher, 0.5 on a tie, 0 otherwise;
the accuracy is reported for both aggregations. The paper's numbers use the mean (the reference
code's ``mean_nll``), so ``accuracy`` is the mean's.

Command line::

    python -m workflow_scripts.likelihood pairs --table results/text/demo/storycloze.parquet --positive ending \\
        --negative contradicting_ending --manifest results/corpora/demo_storycloze/manifest.parquet --out pairs.parquet
    python -m workflow_scripts.likelihood score --model results/models/demo/dpo --units .../units.parquet \\
        --pairs pairs.parquet --benchmark sstorycloze --out-table sstorycloze.parquet --out-json sstorycloze.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from workflow_scripts.logs import setup_logging

log = logging.getLogger("likelihood")

PAPER_AGGREGATION = "mean"


def _pair(pair_id: str, positive: dict, negative: dict, group: str | None = None) -> dict:
    return {"id": pair_id, "positive_id": positive["id"], "negative_id": negative["id"], "positive_path": positive["path"],
            "negative_path": negative["path"], "group": group}


def make_pairs(table: str | Path, positive: str, negative: str, manifest: str | Path) -> tuple[list[dict], list[str]]:
    """Pairs (id, positive_id, negative_id, their audio paths, group) of a table whose rows are items with
    utterances ``<id>_<positive>`` and ``<id>_<negative>`` (and maybe a ``group`` column, for per-group
    accuracies); and the ids of items with missing audio."""
    rows = {r["id"]: r for r in pq.read_table(manifest, columns=["id", "path"]).to_pylist()}
    items = pq.read_table(table)
    columns = [c for c in ("id", "group") if c in items.column_names]
    pairs, missing = [], []
    for item in items.select(columns).to_pylist():
        ids = f"{item['id']}_{positive}", f"{item['id']}_{negative}"
        if all(i in rows for i in ids):
            pairs.append(_pair(item["id"], rows[ids[0]], rows[ids[1]], item.get("group")))
        else:
            missing.append(item["id"])
    return pairs, missing


def suffix_pairs(manifest: str | Path, positive: str, negative: str) -> tuple[list[dict], list[str]]:
    """Pairs of files named ``<key>_<positive>.*`` and ``<key>_<negative>.*`` (spoken StoryCloze's
    layout), matched by key; keys with only one of the two are returned as missing."""
    by_key: dict[str, dict] = {}
    for row in pq.read_table(manifest, columns=["id", "path"]).to_pylist():
        key, _, side = Path(row["path"]).stem.rpartition("_")
        if side in (positive, negative) and key:
            by_key.setdefault(key, {})[side] = row
    pairs = [_pair(key, sides[positive], sides[negative]) for key, sides in sorted(by_key.items(), key=lambda kv: _natural(kv[0]))
             if positive in sides and negative in sides]
    return pairs, sorted(k for k, sides in by_key.items() if len(sides) < 2)


def gold_csv_pairs(gold_csv: str | Path, manifest: str | Path) -> tuple[list[dict], list[str]]:
    """Pairs of ZeroSpeech 2021's sBLIMP from its gold.csv (filename, id, voice, type, subtype, correct):
    the file with correct = 1 against the one with correct = 0 of the same id, voice and subtype. The
    group is the linguistic type, for per-type accuracies."""
    import csv

    rows = {Path(r["path"]).stem: r for r in pq.read_table(manifest, columns=["id", "path"]).to_pylist()}
    groups: dict[tuple, dict] = {}
    with open(gold_csv, newline="") as f:
        for line in csv.DictReader(f):
            key = (line["type"], line["subtype"], line["id"], line["voice"])
            groups.setdefault(key, {})[int(line["correct"])] = line["filename"]
    pairs, missing = [], []
    for (kind, subtype, item, voice), files in sorted(groups.items()):
        pair_id = f"{kind}/{subtype}/{item}/{voice}"
        if files.get(1) in rows and files.get(0) in rows:
            pairs.append(_pair(pair_id, rows[files[1]], rows[files[0]], kind))
        else:
            missing.append(pair_id)
    return pairs, missing


def _natural(key: str):
    """Sort "2" before "10"."""
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


@torch.no_grad()
def score_utterances(model, sequences: dict[str, list[int]], batch_tokens: int, device) -> dict[str, tuple[float, int]]:
    """(summed log-likelihood, number of scored tokens) of each token sequence, every token after the
    first scored. Sequences are batched by length, right-padded under an attention mask, so a
    sequence's score does not depend on its batch."""
    from workflow_scripts.extract_units import length_sorted_batches

    ids = list(sequences)
    limit = getattr(model.config, "max_position_embeddings", None) or 10**9
    scores = {}
    for batch in length_sorted_batches([len(sequences[i]) for i in ids], batch_tokens):
        rows = [sequences[ids[j]][:limit] for j in batch]
        length = max(len(r) for r in rows)
        input_ids = torch.zeros((len(rows), length), dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for k, row in enumerate(rows):
            input_ids[k, :len(row)], mask[k, :len(row)] = torch.tensor(row), 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits.float()
        logps = torch.gather(F.log_softmax(logits[:, :-1], dim=-1), 2, input_ids[:, 1:, None])[..., 0] * mask[:, 1:]
        for k, j in enumerate(batch):
            scores[ids[j]] = (float(logps[k].sum()), int(mask[k, 1:].sum()))
    return scores


def pair_outcome(positive: float, negative: float) -> float:
    return 1.0 if positive > negative else 0.5 if positive == negative else 0.0


def score_pairs(pairs: list[dict], scores: dict[str, tuple[float, int]]) -> tuple[list[dict], dict]:
    rows = []
    for pair in pairs:
        (pos_sum, pos_n), (neg_sum, neg_n) = scores[pair["positive_id"]], scores[pair["negative_id"]]
        pos_mean, neg_mean = pos_sum / max(pos_n, 1), neg_sum / max(neg_n, 1)
        rows.append({**{k: pair.get(k) for k in ("id", "positive_id", "negative_id", "group")},
                     "positive_sum": pos_sum, "negative_sum": neg_sum, "positive_mean": pos_mean, "negative_mean": neg_mean,
                     "positive_tokens": pos_n, "negative_tokens": neg_n,
                     "correct_sum": pair_outcome(pos_sum, neg_sum), "correct_mean": pair_outcome(pos_mean, neg_mean)})
    accuracy = {aggregation: float(np.mean([r[f"correct_{aggregation}"] for r in rows])) if rows else None
                for aggregation in ("sum", "mean")}
    groups = sorted({r["group"] for r in rows if r.get("group")})
    by_group = {g: float(np.mean([r[f"correct_{PAPER_AGGREGATION}"] for r in rows if r["group"] == g])) for g in groups}
    return rows, {"pairs": len(rows), "accuracy": accuracy[PAPER_AGGREGATION], "accuracy_sum": accuracy["sum"],
                  "accuracy_mean": accuracy["mean"], "aggregation": PAPER_AGGREGATION, "accuracy_by_group": by_group}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("pairs", help="a pair manifest: from a table of items (--table), from file names "
                                             "(--by-file-name) or from a ZeroSpeech gold.csv (--gold-csv)")
    make.add_argument("--table", help="items whose utterances are <id>_<positive> and <id>_<negative>")
    make.add_argument("--by-file-name", action="store_true", help="pair files <key>_<positive> with <key>_<negative>")
    make.add_argument("--gold-csv", help="sBLIMP's gold.csv")
    make.add_argument("--positive", help="suffix of the positive utterance")
    make.add_argument("--negative", help="suffix of the negative utterance")
    make.add_argument("--manifest", required=True, help="the corpus manifest with the audio")
    make.add_argument("--out", required=True)
    score = commands.add_parser("score", help="accuracy of a model on a pair manifest")
    score.add_argument("--model", required=True)
    score.add_argument("--units", required=True, help="units table of the benchmark's corpus")
    score.add_argument("--pairs", required=True)
    score.add_argument("--benchmark", required=True)
    score.add_argument("--batch-tokens", type=int, default=16384, help="padded tokens per batch")
    score.add_argument("--out-table", required=True)
    score.add_argument("--out-json", required=True)
    for command in (make, score):
        command.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)

    if args.command == "pairs":
        if args.gold_csv:
            pairs, missing = gold_csv_pairs(args.gold_csv, args.manifest)
        elif args.by_file_name:
            pairs, missing = suffix_pairs(args.manifest, args.positive, args.negative)
        else:
            pairs, missing = make_pairs(args.table, args.positive, args.negative, args.manifest)
        schema = pa.schema([(k, pa.string()) for k in ("id", "positive_id", "negative_id", "positive_path", "negative_path", "group")])
        pq.write_table(pa.Table.from_pylist(pairs, schema=schema), args.out)
        log.info("%d pairs; %d without audio for both sides (left out): %s", len(pairs), len(missing), missing[:5])
        return 0

    from transformers import AutoModelForCausalLM

    from workflow_scripts.speech_lm import load_vocabulary

    device = "cuda" if torch.cuda.is_available() else "cpu"
    vocabulary = load_vocabulary(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).to(device).eval()
    pairs = pq.read_table(args.pairs).to_pylist()
    needed = {p[k] for p in pairs for k in ("positive_id", "negative_id")}
    units = {r["id"]: r["units"] for r in pq.read_table(args.units, columns=["id", "units"]).to_pylist() if r["id"] in needed}
    lost = [p["id"] for p in pairs if p["positive_id"] not in units or p["negative_id"] not in units]
    if lost:
        log.warning("%d pairs have an utterance without units (rejected audio) and are left out: %s", len(lost), lost[:5])
        pairs = [p for p in pairs if p["id"] not in set(lost)]
    sequences = {i: [vocabulary.bos_id, *vocabulary.tokens(u).tolist()] for i, u in units.items()}
    rows, summary = score_pairs(pairs, score_utterances(model, sequences, args.batch_tokens, device))
    summary.update(benchmark=args.benchmark, pairs_left_out=len(lost), model=args.model)
    pq.write_table(pa.Table.from_pylist(rows), args.out_table)
    Path(args.out_json).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s: accuracy %.4f (mean log-likelihood; %.4f with the sum) over %d pairs", args.benchmark,
             summary["accuracy_mean"] or 0, summary["accuracy_sum"] or 0, summary["pairs"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
