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


def make_pairs(table: str | Path, positive: str, negative: str, manifest: str | Path) -> tuple[list[dict], list[str]]:
    """Pairs (id, positive_id, negative_id and their audio paths) of a table whose rows are items with
    utterances ``<id>_<positive>`` and ``<id>_<negative>``; and the ids of items with missing audio."""
    paths = {r["id"]: r["path"] for r in pq.read_table(manifest, columns=["id", "path"]).to_pylist()}
    pairs, missing = [], []
    for row in pq.read_table(table, columns=["id"]).to_pylist():
        ids = f"{row['id']}_{positive}", f"{row['id']}_{negative}"
        if all(i in paths for i in ids):
            pairs.append({"id": row["id"], "positive_id": ids[0], "negative_id": ids[1],
                          "positive_path": paths[ids[0]], "negative_path": paths[ids[1]]})
        else:
            missing.append(row["id"])
    return pairs, missing


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
        rows.append({**{k: pair[k] for k in ("id", "positive_id", "negative_id")},
                     "positive_sum": pos_sum, "negative_sum": neg_sum, "positive_mean": pos_mean, "negative_mean": neg_mean,
                     "positive_tokens": pos_n, "negative_tokens": neg_n,
                     "correct_sum": pair_outcome(pos_sum, neg_sum), "correct_mean": pair_outcome(pos_mean, neg_mean)})
    accuracy = {aggregation: float(np.mean([r[f"correct_{aggregation}"] for r in rows])) if rows else None
                for aggregation in ("sum", "mean")}
    return rows, {"pairs": len(rows), "accuracy": accuracy[PAPER_AGGREGATION], "accuracy_sum": accuracy["sum"],
                  "accuracy_mean": accuracy["mean"], "aggregation": PAPER_AGGREGATION}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("pairs", help="a pair manifest from a table of items")
    make.add_argument("--table", required=True)
    make.add_argument("--positive", required=True, help="suffix of the positive utterance's id")
    make.add_argument("--negative", required=True, help="suffix of the negative utterance's id")
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
        command.add_argument("--log")
    args = parser.parse_args(argv)
    setup_logging(args.log)

    if args.command == "pairs":
        pairs, missing = make_pairs(args.table, args.positive, args.negative, args.manifest)
        pq.write_table(pa.Table.from_pylist(pairs), args.out)
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
