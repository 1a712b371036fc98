"""Likelihood benchmarks (sBLIMP, sStoryCloze, tStoryCloze, SALMon): does the model prefer the right one of
each pair?

A benchmark is a manifest of pairs - id, positive utterance, negative utterance, with their audio -
never an order of file names. Each utterance is scored from its units (the run's tokeniser, audio
resampled as needed by the extraction) as the paper's official code scores it: the utterance is
``BOS units EOS``, and every token after BOS (the units and the EOS) is scored by its log-probability,
averaged (``mean``) and summed (``sum``). A pair counts 1 when the positive scores higher, 0.5 on a
tie, 0 otherwise; the accuracy is the mean over all pairs, reported for both aggregations.
``accuracy`` is the mean's, the paper's (the official code's ``mean_nll``), with its 95 % interval from a
bootstrap over items (``slamming.evaluation.statistics``).

A pair whose audio is missing on either side is left out and counted (``pairs_left_out``); for an
official benchmark (``official: true`` in its pairing) it stops the run instead, naming the files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from slamming.artifacts import read_parquet
from slamming.evaluation.statistics import INTERVAL, interval
from slamming.logs import StageError

log = logging.getLogger("likelihood")

PAPER_AGGREGATION = "mean"


def _pair(pair_id: str, positive: dict, negative: dict, group: str | None = None, texts: tuple | None = None,
          item: str | None = None, frequency: int | None = None) -> dict:
    """A pair; the texts of its two utterances where they are known (for the text topline); its item, the
    unit a bootstrap resamples (the pair itself, or for sLM21 the id its voices share); for sWUGGY, the
    word's frequency in LibriSpeech (0: out of vocabulary)."""
    texts = texts or (positive.get("text"), negative.get("text"))
    return {"id": pair_id, "item": item or pair_id, "positive_id": positive["id"], "negative_id": negative["id"],
            "positive_path": positive["path"], "negative_path": negative["path"], "group": group,
            "positive_text": texts[0], "negative_text": texts[1], "frequency": frequency}


def make_pairs(table: str | Path, positive: str, negative: str, manifest: str | Path) -> tuple[list[dict], dict[str, list[str]]]:
    """Pairs (id, positive_id, negative_id, their audio paths, group) of a table whose rows are items with
    utterances ``<id>_<positive>`` and ``<id>_<negative>`` (and maybe a ``group`` column, for per-group
    accuracies); and, for each item left out, its utterances without audio in the manifest."""
    rows = {r["id"]: r for r in read_parquet(manifest, columns=["id", "path", "text"]).to_pylist()}
    items = read_parquet(table)
    columns = [c for c in ("id", "group") if c in items.column_names]
    pairs, missing = [], {}
    for item in items.select(columns).to_pylist():
        ids = f"{item['id']}_{positive}", f"{item['id']}_{negative}"
        if all(i in rows for i in ids):
            pairs.append(_pair(item["id"], rows[ids[0]], rows[ids[1]], item.get("group")))
        else:
            missing[item["id"]] = [i for i in ids if i not in rows]
    return pairs, missing


def suffix_pairs(manifest: str | Path, positive: str, negative: str, group_by_folder: bool = False
                 ) -> tuple[list[dict], dict[str, list[str]]]:
    """Pairs of files named ``<key>_<positive>.*`` and ``<key>_<negative>.*`` (spoken StoryCloze's
    layout), matched by key; for keys with only one of the two, the other is returned as missing. With
    ``group_by_folder`` (SALMon's own layout, ``<part>/sample_<n>_0.wav`` against ``..._1.wav``) a pair is
    matched within its folder, and the folder's name is its group and starts its id."""
    by_key: dict[str, dict] = {}
    for row in read_parquet(manifest, columns=["id", "path", "text"]).to_pylist():
        path = Path(row["path"])
        key, _, side = path.stem.rpartition("_")
        if group_by_folder:
            key = f"{path.parent.name}/{key}"
        if side in (positive, negative) and key:
            by_key.setdefault(key, {})[side] = row
    ordered = sorted(by_key.items(), key=lambda kv: tuple(_natural(k) for k in kv[0].split("/")))
    pairs = [_pair(key, sides[positive], sides[negative], key.split("/")[0] if group_by_folder else None)
             for key, sides in ordered if positive in sides and negative in sides]
    missing = {key: [f"{key}_{side}" for side in (positive, negative) if side not in sides]
               for key, sides in ordered if len(sides) < 2}
    return pairs, missing


# sWUGGY's frequency bands: a word's occurrences in LibriSpeech, cut as ZeroSpeech 2021's evaluation cuts
# them ([0, 1) is out of vocabulary; its labels are its own, "1-5" holding 1 to 4)
FREQUENCY_BANDS = ((1, "oov"), (5, "1-5"), (20, "6-20"), (100, "21-100"), (float("inf"), ">100"))


def frequency_band(frequency: int) -> str:
    return next(label for bound, label in FREQUENCY_BANDS if frequency < bound)


def gold_csv_pairs(gold_csv: str | Path, manifest: str | Path) -> tuple[list[dict], dict[str, list[str]]]:
    """Pairs of ZeroSpeech 2021's sLM21 from its gold.csv, either layout: sBLIMP's (filename, id, voice,
    type, subtype, correct, transcription) or sWUGGY's (filename, word, phones, id, voice, frequency,
    length, correct). The file with correct = 1 is set against the one with correct = 0 of the same id
    and voice (and type and subtype), as the official evaluation joins them. The item, which a bootstrap
    resamples and ZeroSpeech's protocol averages the voices of, is the id (with sBLIMP's type and
    subtype). The group is sBLIMP's linguistic type, or the frequency band of sWUGGY's word; the texts
    are the transcriptions or the words (a non-word may have none). Files of gold.csv not in the
    manifest are returned as missing."""
    import csv

    rows = {Path(r["path"]).stem: r for r in read_parquet(manifest, columns=["id", "path", "text"]).to_pylist()}
    groups: dict[tuple, dict] = {}
    lines = {}
    with open(gold_csv, newline="") as f:
        reader = csv.DictReader(f)
        absent = {"filename", "id", "voice", "correct"} - set(reader.fieldnames or ())
        if absent:
            raise StageError(f"{gold_csv}: not a ZeroSpeech 2021 gold.csv, it has no column {', '.join(sorted(absent))}")
        item_columns = [c for c in ("type", "subtype", "id") if c in reader.fieldnames]
        for line in reader:
            key = (*(line[c] for c in item_columns), line["voice"])
            groups.setdefault(key, {})[int(line["correct"])] = line["filename"]
            lines[line["filename"]] = line
    pairs, missing = [], {}
    for key, files in sorted(groups.items()):
        item, pair_id = "/".join(key[:-1]), "/".join(key)
        if files.get(1) in rows and files.get(0) in rows:
            word = lines[files[1]]
            frequency = int(float(word["frequency"])) if word.get("frequency") not in (None, "") else None
            group = word.get("type") or (frequency_band(frequency) if frequency is not None else None)
            texts = tuple((lines[files[side]].get("transcription") or lines[files[side]].get("word") or None) for side in (1, 0))
            pairs.append(_pair(pair_id, rows[files[1]], rows[files[0]], group, texts, item=item, frequency=frequency))
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
    from slamming.units.extraction import length_sorted_batches

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


def zerospeech_accuracy(outcomes: list[float], items: list[str]) -> float | None:
    """ZeroSpeech 2021's accuracy (its sBLIMP and sWUGGY evaluation): the outcomes of one item's pairs (its
    voices) averaged first, then the items. Equal to the plain mean when every item has one pair."""
    by_item: dict[str, list[float]] = {}
    for outcome, item in zip(outcomes, items):
        by_item.setdefault(item, []).append(outcome)
    return float(np.mean([np.mean(v) for v in by_item.values()])) if by_item else None


def accuracies(rows: list[dict], outcome: str) -> dict:
    """A set of scored pairs' accuracy under both protocols, with its 95 % interval over items."""
    outcomes, items = [r[outcome] for r in rows], [r["item"] for r in rows]
    return {"pairs": len(rows), "accuracy": float(np.mean(outcomes)) if rows else None,
            "accuracy_zerospeech": zerospeech_accuracy(outcomes, items), "accuracy_ci95": interval(outcomes, items)}


def score_pairs(pairs: list[dict], scores: dict[str, tuple[float, int]]) -> tuple[list[dict], dict]:
    rows = []
    for pair in pairs:
        (pos_sum, pos_n), (neg_sum, neg_n) = scores[pair["positive_id"]], scores[pair["negative_id"]]
        pos_mean, neg_mean = pos_sum / max(pos_n, 1), neg_sum / max(neg_n, 1)
        rows.append({**{k: pair.get(k) for k in ("id", "positive_id", "negative_id", "group", "positive_path", "negative_path",
                                                 "frequency")},
                     "item": pair.get("item") or pair["id"],
                     "positive_sum": pos_sum, "negative_sum": neg_sum, "positive_mean": pos_mean, "negative_mean": neg_mean,
                     "positive_tokens": pos_n, "negative_tokens": neg_n,
                     "correct_sum": pair_outcome(pos_sum, neg_sum), "correct_mean": pair_outcome(pos_mean, neg_mean)})
    outcome = f"correct_{PAPER_AGGREGATION}"
    summary = {**accuracies(rows, outcome), "aggregation": PAPER_AGGREGATION, "interval": INTERVAL,
               **{f"accuracy_{aggregation}": float(np.mean([r[f"correct_{aggregation}"] for r in rows])) if rows else None
                  for aggregation in ("sum", "mean")}}
    # per group (sBLIMP's types, SALMon's parts, sWUGGY's frequency bands), each with its interval
    groups = sorted({r["group"] for r in rows if r.get("group")})
    summary["groups"] = {g: accuracies([r for r in rows if r["group"] == g], outcome) for g in groups}
    # sWUGGY: ZeroSpeech 2021 reports the words LibriSpeech has (frequency >= 1) apart from all words
    if any(r.get("frequency") is not None for r in rows):
        summary["in_vocabulary"] = accuracies([r for r in rows if (r.get("frequency") or 0) >= 1], outcome)
    return rows, summary


def zerospeech_submission(rows: list[dict], aggregation: str = PAPER_AGGREGATION) -> str:
    """The per-utterance scores as a ZeroSpeech 2021 submission file's lines (``<file> <score>``, the audio
    file's name without its extension; higher is more probable), for its own evaluation tool to check
    ours: ``lexical/dev.txt`` for sWUGGY, ``syntactic/dev.txt`` for sBLIMP."""
    scores = {}
    for row in rows:
        for side in ("positive", "negative"):
            name = Path(row[f"{side}_path"]).stem if row.get(f"{side}_path") else row[f"{side}_id"]
            scores[name] = row[f"{side}_{aggregation}"]
    return "".join(f"{name} {score!r}\n" for name, score in sorted(scores.items()))


def units_problem(benchmark: str, utterances: list[str], units: Path) -> str:
    """One line on utterances a benchmark needs that its units table lacks: rejected at extraction
    (the reasons are in the rejected table beside it) or simply not there (an incomplete table)."""
    rejected_path = units.with_name("rejected.parquet")
    rejected = {r["id"]: r["reason"] for r in read_parquet(rejected_path, columns=["id", "reason"]).to_pylist()} \
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


PAIRS_SCHEMA = pa.schema([*((k, pa.string()) for k in ("id", "item", "positive_id", "negative_id", "positive_path", "negative_path",
                                                         "group", "positive_text", "negative_text")),
                          ("frequency", pa.int64())])


def write_pairs(pairs: list[dict], missing: dict[str, list[str]], benchmark: str, manifest: str | Path, official: bool,
                out: str | Path, log) -> None:
    """A benchmark's pair manifest, with the pairs left out (and the utterances they lack) in its
    metadata; for an official benchmark a pair left out is an error that names its files."""
    rejected = Path(manifest).with_name("rejected.parquet")
    files = [name for names in missing.values() for name in names]
    if missing and official:
        raise StageError(f"{benchmark}: {len(missing)} pair(s) cannot be scored, no usable audio for "
                         f"{', '.join(files[:10])}{' ...' if len(files) > 10 else ''}; the reasons are in {rejected}")
    table = pa.Table.from_pylist(pairs, schema=PAIRS_SCHEMA).replace_schema_metadata({b"pairs_left_out": json.dumps(missing).encode()})
    pq.write_table(table, out)
    log.info("%s: %d pairs; %d left out, no usable audio for %s (reasons in %s)", benchmark, len(pairs), len(missing),
             files[:5], rejected)


def score_benchmark(model, vocabulary, pairs_path: str | Path, units_path: str | Path, benchmark: str, official: bool,
                    batch_tokens: int, device, log) -> tuple[list[dict], dict]:
    """Per-pair scores and the summary of a benchmark: every pair whose two utterances have units is
    scored; the others are counted (``pairs_left_out``), or, for an official benchmark, stop the run."""
    pair_table = read_parquet(pairs_path)
    pairs = pair_table.to_pylist()
    no_audio = json.loads((pair_table.schema.metadata or {}).get(b"pairs_left_out", b"{}"))
    needed = {p[k] for p in pairs for k in ("positive_id", "negative_id")}
    units = {r["id"]: r["units"] for r in read_parquet(units_path, columns=["id", "units"]).to_pylist() if r["id"] in needed}
    no_units = sorted(i for i in needed if i not in units)
    if no_units:
        message = units_problem(benchmark, no_units, Path(units_path))
        if official:
            raise StageError(message)
        log.warning("%s; their pairs are left out and counted in pairs_left_out", message)
    scored = [p for p in pairs if p["positive_id"] in units and p["negative_id"] in units]
    sequences = {i: utterance_tokens(u, vocabulary) for i, u in units.items()}
    rows, summary = score_pairs(scored, score_utterances(model, sequences, batch_tokens, device))
    summary.update(benchmark=benchmark, pairs_left_out=len(pairs) - len(scored) + len(no_audio),
                   pairs_without_audio=sorted(no_audio), utterances_without_units=no_units)
    return rows, summary


def text_topline(model, tokenizer, pairs: list[dict], batch_size: int, device) -> tuple[list[dict], dict]:
    """How a text LM does on the text of a benchmark's pairs: each text scored as an utterance is (the
    mean log-probability of its tokens after BOS, EOS included), a pair counted as for speech. Pairs
    without text are counted and left out."""
    from slamming.evaluation.genppl import mean_nlls

    known = [p for p in pairs if p.get("positive_text") and p.get("negative_text")]
    # SALMon's pairs, and sWUGGY's non-words in some releases, have no text
    nlls = mean_nlls(model, tokenizer, [t for p in known for t in (p["positive_text"], p["negative_text"])], batch_size,
                     device, with_eos=True) if known else []
    rows = [{"id": p["id"], "item": p.get("item") or p["id"], "group": p.get("group"), "positive_mean": -nlls[2 * i],
             "negative_mean": -nlls[2 * i + 1], "correct": pair_outcome(-nlls[2 * i], -nlls[2 * i + 1])}
            for i, p in enumerate(known)]
    groups = sorted({r["group"] for r in rows if r["group"]})
    return rows, {"pairs": len(rows), "pairs_without_text": len(pairs) - len(known),
                  "accuracy": float(np.mean([r["correct"] for r in rows])) if rows else None,
                  "accuracy_ci95": interval([r["correct"] for r in rows], [r["item"] for r in rows]), "interval": INTERVAL,
                  "accuracy_by_group": {g: float(np.mean([r["correct"] for r in rows if r["group"] == g])) for g in groups}}
