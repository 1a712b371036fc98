"""Preference optimisation (DPO) of a pretrained speech LM on spoken preference triples (Table 5).

Data: a corpus whose utterances are ``<pair>_prompt``, ``<pair>_chosen`` and ``<pair>_rejected``, and
its pairs table (id, prompt, chosen, rejected texts). A pair is kept when the bigram auto-BLEU of its
text ``prompt + " " + chosen`` is below ``max_auto_bleu``, as the paper's official code filters
SpokenSwag, and when all three of its recordings have units. Each pair becomes ``BOS prompt`` +
``chosen EOS`` / ``rejected EOS`` in tokens; a pair longer than the context keeps its start (its
completion is cut).

Loss: the sigmoid DPO loss, -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), over log-
probabilities summed over the completion tokens. The reference model's log-probabilities are
computed once, before training, with the starting weights: no second model is held in memory. They
are kept beside the checkpoints under the content of what made them (the model's weights, the
units, the pairs and the settings that shape the sequences), so a changed model never reuses them.

The loop is the engine's (``engine.py``): budget in hours, epochs or optimiser steps, the recipe's
schedule (inverse square root in Table 5, as Hugging Face computes it), the global batch kept over
processes by gradient accumulation, the run's precision, checkpoints and resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from slamming.artifacts import load_npy, read_parquet
from slamming.data.autobleu import auto_bleu
from slamming.logs import StageError
from slamming.training.speech_lm import load_vocabulary

log = logging.getLogger("dpo")

PARTS = ("prompt", "chosen", "rejected")


def load_triples(units_path: str | Path, pairs_path: str | Path, vocabulary, context: int, max_auto_bleu: float):
    """Token triples {id, prompt_ids, chosen_ids, rejected_ids} and a report of what was dropped and why."""
    units = {r["id"]: r["units"] for r in read_parquet(units_path, columns=["id", "units"]).to_pylist()}
    pairs = read_parquet(pairs_path).to_pylist()
    triples, dropped = [], {"repetitive": 0, "missing_audio": 0, "prompt_too_long": 0}
    for pair in pairs:
        if auto_bleu(f"{pair['prompt']} {pair['chosen']}") >= max_auto_bleu:  # the official filter
            dropped["repetitive"] += 1
            continue
        ids = {part: f"{pair['id']}_{part}" for part in PARTS}
        if any(units.get(i) is None for i in ids.values()):
            dropped["missing_audio"] += 1
            continue
        prompt = [vocabulary.bos_id, *vocabulary.tokens(units[ids["prompt"]]).tolist()]
        if len(prompt) >= context:
            dropped["prompt_too_long"] += 1
            continue
        room = context - len(prompt)
        triples.append({"id": pair["id"], "split": pair.get("split") or "train", "prompt_ids": prompt,
                        "chosen_ids": [*vocabulary.tokens(units[ids["chosen"]]).tolist(), vocabulary.eos_id][:room],
                        "rejected_ids": [*vocabulary.tokens(units[ids["rejected"]]).tolist(), vocabulary.eos_id][:room]})
    return triples, {"pairs": len(pairs), "kept": len(triples), "dropped": dropped}


def collate(triples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Chosen sequences then rejected ones, right-padded, with the mask of completion tokens."""
    sequences = [t["prompt_ids"] + t["chosen_ids"] for t in triples] + [t["prompt_ids"] + t["rejected_ids"] for t in triples]
    completions = [[0] * len(t["prompt_ids"]) + [1] * len(t[key]) for key in ("chosen_ids", "rejected_ids") for t in triples]
    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    completion_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, (sequence, completion) in enumerate(zip(sequences, completions)):
        input_ids[i, :len(sequence)] = torch.tensor(sequence)
        attention_mask[i, :len(sequence)] = 1
        completion_mask[i, :len(sequence)] = torch.tensor(completion)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "completion_mask": completion_mask}


def completion_logps(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Log-probability of each sequence's completion tokens, summed: shape (2 x pairs,)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    logps = torch.gather(F.log_softmax(logits[:, :-1].float(), dim=-1), 2, batch["input_ids"][:, 1:, None])[..., 0]
    return (logps * batch["completion_mask"][:, 1:]).sum(dim=1)


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float):
    """Per-pair sigmoid DPO loss and the implicit rewards."""
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    return -F.logsigmoid(chosen_rewards - rejected_rewards), chosen_rewards, rejected_rewards


@torch.no_grad()
def reference_logps(model, triples: list[dict], batch_size: int, pad_id: int, device, precision) -> np.ndarray:
    """(pairs, 2) summed completion log-probabilities of a model: of the starting one, the DPO reference."""
    from tqdm import tqdm

    model.eval()
    out = np.zeros((len(triples), 2), dtype=np.float64)
    for first in tqdm(range(0, len(triples), batch_size), desc="reference log-probs", file=sys.stderr):
        chunk = triples[first:first + batch_size]
        batch = {k: v.to(device) for k, v in collate(chunk, pad_id).items()}
        with precision.context(device):
            logps = completion_logps(model, batch).double().cpu().numpy()
        out[first:first + len(chunk), 0], out[first:first + len(chunk), 1] = logps[:len(chunk)], logps[len(chunk):]
    model.train()
    return out


def cached_reference(model, triples, settings: dict, inputs: list[Path], work: Path, pad_id: int, engine) -> np.ndarray:
    """The reference log-probabilities, computed once per content of what makes them: the starting
    model's weights, the units and pairs, and the settings that shape the sequences and the numbers."""
    from slamming.training.engine import content_digest

    shaping = {k: settings.get(k) for k in ("context_length", "max_auto_bleu", "dtype", "precision")}
    key = hashlib.sha256(json.dumps([content_digest(inputs), shaping], sort_keys=True).encode()).hexdigest()[:16]
    path = work / f"reference_logps-{key}.npy"
    if path.exists():
        log.info("reference log-probabilities from %s (same model, data and settings)", path)
        return load_npy(path)
    reference = reference_logps(model, triples, settings["per_device_batch_size"] * 2, pad_id, engine.device, engine.precision)
    if engine.processes.main:
        work.mkdir(parents=True, exist_ok=True)
        for stale in work.glob("reference_logps*.npy"):
            stale.unlink()
        np.save(path.with_suffix(".tmp.npy"), reference)
        path.with_suffix(".tmp.npy").replace(path)
    return reference


class PreferenceTask:
    """DPO on preference triples, for the engine: a step's loss is normalised by its pairs."""

    log_columns = ["reward_accuracy", "reward_margin"]

    def __init__(self, triples: list[dict], reference: np.ndarray, beta: float, pad_id: int):
        self.triples, self.reference, self.beta, self.pad_id = triples, reference, beta, pad_id
        self.items = len(triples)

    def load(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        return {**collate([self.triples[i] for i in indices], self.pad_id), "reference": torch.as_tensor(self.reference[indices])}

    def step_size(self, indices: np.ndarray) -> tuple[float, int]:
        tokens = sum(2 * len(t["prompt_ids"]) + len(t["chosen_ids"]) + len(t["rejected_ids"]) for t in (self.triples[i] for i in indices))
        return float(len(indices)), tokens

    def loss(self, model, batch: dict[str, torch.Tensor]):
        pairs = len(batch["reference"])
        logps = completion_logps(model, batch).double()
        losses, chosen, rejected = dpo_loss(logps[:pairs], logps[pairs:], batch["reference"][:, 0], batch["reference"][:, 1],
                                            self.beta)
        return losses.sum(), {"reward_accuracy": (chosen > rejected).sum(), "reward_margin": (chosen - rejected).sum()}


def preference(logps: np.ndarray, triples: list[dict]) -> dict:
    """How often a model prefers the chosen completion: by the mean log-probability per completion
    token (as the likelihood benchmarks score) and by the sum (what the DPO loss sees)."""
    lengths = np.array([[len(t["chosen_ids"]), len(t["rejected_ids"])] for t in triples], dtype=np.float64)
    means = logps / lengths
    return {"pairs": len(triples), "preference": float(np.mean(means[:, 0] > means[:, 1])),
            "preference_sum": float(np.mean(logps[:, 0] > logps[:, 1]))}


def train_dpo(init: Path, units: Path, pairs: Path, settings: dict, seed: int, out: Path, work: Path, **engine_options) -> dict:
    """DPO on the train triples; the valid ones (a demo's held-out share) measure the model's preference
    before and after."""
    from slamming.training.engine import Engine

    engine = Engine(settings, seed, [init, units, pairs], out, work, log, **engine_options)
    vocabulary = load_vocabulary(init)
    triples, report = load_triples(units, pairs, vocabulary, settings["context_length"], settings["max_auto_bleu"])
    held_out = [t for t in triples if t["split"] != "train"]
    triples = [t for t in triples if t["split"] == "train"]
    if not triples:
        raise StageError(f"no preference pairs left in {pairs} ({report}); check the DPO corpus")
    log.info("%d of %d pairs kept, %d of them held out; dropped: %s", report["kept"], report["pairs"], len(held_out),
             report["dropped"])
    model = engine.load_model(init)
    reference = cached_reference(model, triples, settings, [init, units, pairs], work, vocabulary.pad_id, engine)
    task = PreferenceTask(triples, reference, settings["beta"], vocabulary.pad_id)
    batch = settings["per_device_batch_size"] * 2
    before = preference(reference_logps(model, held_out, batch, vocabulary.pad_id, engine.device, engine.precision), held_out) \
        if held_out else None

    def held_out_preference(trained) -> dict:
        if not held_out:
            return {}
        after = preference(reference_logps(trained, held_out, batch, vocabulary.pad_id, engine.device, engine.precision), held_out)
        log.info("held-out preference (mean log-probability): %.3f before DPO, %.3f after, on %d triples", before["preference"],
                 after["preference"], len(held_out))
        return {"held_out": {"before": before, "after": after}}

    return engine.fit(model, task, init, summary={"data": report}, finish=held_out_preference)
