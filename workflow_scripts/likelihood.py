"""Likelihood benchmarks (sBLIMP, sStoryCloze, tStoryCloze, SALMon): does the model prefer the right one of
each pair?

A benchmark is a manifest of pairs - id, positive utterance, negative utterance, with their audio -
never an order of file names. Each utterance is scored from its units (the run's tokeniser, audio
resampled as needed by the extraction) as the paper's official code scores it: the utterance is
``BOS units EOS``, and every token after BOS (the units and the EOS) is scored by its log-probability,
averaged (``mean``) and summed (``sum``). A pair counts 1 when the positive scores higher, 0.5 on a
tie, 0 otherwise; the accuracy is the mean over all pairs, reported for both aggregations.
``accuracy`` is the mean's, the paper's (the official code's ``mean_nll``).

A pair whose audio is missing on either side is left out and counted (``pairs_left_out``); for an
official benchmark (``official: true`` in its pairing) it stops the run instead, naming the files.

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


def make_pairs(table: str | Path, positive: str, negative: str, manifest: str | Path) -> tuple[list[dict], dict[str, list[str]]]:
    """Pairs (id, positive_id, negative_id, their audio paths, group) of a table whose rows are items with
    utterances ``<id>_<positive>`` and ``<id>_<negative>`` (and maybe a ``group`` column, for per-group
    accuracies); and, for each item left out, its utterances without audio in the manifest."""
    rows = {r["id"]: r for r in pq.read_table(manifest, columns=["id", "path"]).to_pylist()}
    items = pq.read_table(table)
    columns = [c for c in ("id", "group") if c in items.column_names]
    pairs, missing = [], {}
    for item in items.select(columns).to_pylist():
        ids = f"{item['id']}_{positive}", f"{item['id']}_{negative}"
        if all(i in rows for i in ids):
            pairs.append(_pair(item["id"], rows[ids[0]], rows[ids[1]], item.get("group")))
        else:
            missing[item["id"]] = [i for i in ids if i not in rows]
    return pairs, missing


def suffix_pairs(manifest: str | Path, positive: str, negative: str) -> tuple[list[dict], dict[str, list[str]]]:
    """Pairs of files named ``<key>_<positive>.*`` and ``<key>_<negative>.*`` (spoken StoryCloze's
    layout), matched by key; for keys with only one of the two, the other is returned as missing."""
    by_key: dict[str, dict] = {}
    for row in pq.read_table(manifest, columns=["id", "path"]).to_pylist():
        key, _, side = Path(row["path"]).stem.rpartition("_")
        if side in (positive, negative) and key:
            by_key.setdefault(key, {})[side] = row
    pairs = [_pair(key, sides[positive], sides[negative]) for key, sides in sorted(by_key.items(), key=lambda kv: _natural(kv[0]))
             if positive in sides and negative in sides]
    missing = {key: [f"{key}_{side}" for side in (positive, negative) if side not in sides]
               for key, sides in sorted(by_key.items(), key=lambda kv: _natural(kv[0])) if len(sides) < 2}
    return pairs, missing


def gold_csv_pairs(gold_csv: str | Path, manifest: str | Path) -> tuple[list[dict], dict[str, list[str]]]:
    """Pairs of ZeroSpeech 2021's sBLIMP from its gold.csv (filename, id, voice, type, subtype, correct):
    the file with correct = 1 against the one with correct = 0 of the same id, voice and subtype. The
    group is the linguistic type, for per-type accuracies. Files of gold.csv not in the manifest are
    returned as missing."""
    import csv

    rows = {Path(r["path"]).stem: r for r in pq.read_table(manifest, columns=["id", "path"]).to_pylist()}
    groups: dict[tuple, dict] = {}
    with open(gold_csv, newline="") as f:
        for line in csv.DictReader(f):
            key = (line["type"], line["subtype"], line["id"], line["voice"])
            groups.setdefault(key, {})[int(line["correct"])] = line["filename"]
    pairs, missing = [], {}
    for (kind, subtype, item, voice), files in sorted(groups.items()):
        pair_id = f"{kind}/{subtype}/{item}/{voice}"
        if files.get(1) in rows and files.get(0) in rows:
            pairs.append(_pair(pair_id, rows[files[1]], rows[files[0]], kind))
        else:
            missing[pair_id] = [files.get(side, f"(no row with correct={side} in gold.csv)") for side in (1, 0)
                                if files.get(side) not in rows]
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


def utterance_tokens(units, vocabulary) -> list[int]:
    """An utterance as the official code scores it: BOS, its units, EOS."""
    return [vocabulary.bos_id, *vocabulary.tokens(units).tolist(), vocabulary.eos_id]


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


def units_problem(benchmark: str, utterances: list[str], units: Path) -> str:
    """One line on utterances a benchmark needs that its units table lacks: rejected at extraction
    (the reasons are in the rejected table beside it) or simply not there (an incomplete table)."""
    rejected_path = units.with_name("rejected.parquet")
    rejected = {r["id"]: r["reason"] for r in pq.read_table(rejected_path, columns=["id", "reason"]).to_pylist()} \
        if rejected_path.exists() else {}
    refused = [f"{i} ({rejected[i]})" for i in utterances if i in rejected]
    absent = [i for i in utterances if i not in rejected]
    parts = []
    if refused:
        parts.append(f"rejected at unit extraction: {', '.join(refused[:5])}{' ...' if len(refused) > 5 else ''}")
    if absent:
        parts.append(f"not in the table at all, so {units} is incomplete - rebuild it with `snakemake -f {units}`: "
                     f"{', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''}")
    return f"{benchmark}: {len(utterances)} utterance(s) have no units; " + "; ".join(parts)


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
    make.add_argument("--benchmark", required=True, help="its name, for messages")
    make.add_argument("--official", action="store_true", help="a published benchmark: a pair without audio stops with an error")
    make.add_argument("--out", required=True)
    score = commands.add_parser("score", help="accuracy of a model on a pair manifest")
    score.add_argument("--model", required=True)
    score.add_argument("--units", required=True, help="units table of the benchmark's corpus")
    score.add_argument("--pairs", required=True)
    score.add_argument("--benchmark", required=True)
    score.add_argument("--official", action="store_true", help="a published benchmark: a pair without units stops with an error")
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
        rejected = Path(args.manifest).with_name("rejected.parquet")
        files = [name for names in missing.values() for name in names]
        if missing and args.official:
            log.error("%s: %d pair(s) cannot be scored, no usable audio for %s; the reasons are in %s", args.benchmark,
                      len(missing), ", ".join(files[:10]) + (" ..." if len(files) > 10 else ""), rejected)
            return 1
        schema = pa.schema([(k, pa.string()) for k in ("id", "positive_id", "negative_id", "positive_path", "negative_path", "group")])
        table = pa.Table.from_pylist(pairs, schema=schema).replace_schema_metadata({b"pairs_left_out": json.dumps(missing).encode()})
        pq.write_table(table, args.out)
        log.info("%d pairs; %d left out, no usable audio for %s (reasons in %s)", len(pairs), len(missing), files[:5], rejected)
        return 0

    from transformers import AutoModelForCausalLM

    from workflow_scripts.speech_lm import load_vocabulary

    device = "cuda" if torch.cuda.is_available() else "cpu"
    vocabulary = load_vocabulary(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).to(device).eval()
    pair_table = pq.read_table(args.pairs)
    pairs = pair_table.to_pylist()
    no_audio = json.loads((pair_table.schema.metadata or {}).get(b"pairs_left_out", b"{}"))
    needed = {p[k] for p in pairs for k in ("positive_id", "negative_id")}
    units = {r["id"]: r["units"] for r in pq.read_table(args.units, columns=["id", "units"]).to_pylist() if r["id"] in needed}
    no_units = sorted(i for i in needed if i not in units)
    if no_units:
        message = units_problem(args.benchmark, no_units, Path(args.units))
        if args.official:
            log.error("%s", message)
            return 1
        log.warning("%s; their pairs are left out and counted in pairs_left_out", message)
    scored = [p for p in pairs if p["positive_id"] in units and p["negative_id"] in units]
    sequences = {i: utterance_tokens(u, vocabulary) for i, u in units.items()}
    rows, summary = score_pairs(scored, score_utterances(model, sequences, args.batch_tokens, device))
    summary.update(benchmark=args.benchmark, pairs_left_out=len(pairs) - len(scored) + len(no_audio),
                   pairs_without_audio=sorted(no_audio), utterances_without_units=no_units, model=args.model)
    pq.write_table(pa.Table.from_pylist(rows), args.out_table)
    Path(args.out_json).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s: accuracy %.4f (mean log-likelihood; %.4f with the sum) over %d pairs", args.benchmark,
             summary["accuracy_mean"] or 0, summary["accuracy_sum"] or 0, summary["pairs"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
