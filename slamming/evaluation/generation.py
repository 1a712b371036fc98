"""Generate speech continuations for the generative metrics (the paper's Table 6 sampling).

Prompts are the positive utterances of a pair manifest, in its order (the full recipe: the first
1000 correct sStoryCloze files), each cut to ``prompt_seconds`` of audio and turned into units with
the run's tokeniser (encoder, layer, centroids) - the same code as the extraction stage. The model
samples a continuation for each (temperature, top-k, repetition penalty, at most ``max_new_tokens``,
stopping early only at EOS), seeded, in batches of left-padded prompts.

Output: a table with id, the prompt's units, the continuation's units, and both together (unit ids,
not tokens); and the cut prompts as audio with their manifest (ids ``<id>.prompt``), for the judge.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

log = logging.getLogger("generate")


def prompt_files(rows: list[dict], count: int) -> list[dict]:
    """The first ``count`` prompts (``positive_id``, ``positive_path``) of a pair manifest, or of a corpus
    manifest (``id``, ``path``: out-of-domain prompts), in the manifest's order."""
    if rows and "positive_path" not in rows[0]:
        rows = [{"positive_id": r["id"], "positive_path": r["path"]} for r in rows]
    return rows[:count]


def prompt_units(paths: list[str], seconds: float, encoder, assign) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first ``seconds`` of each file (16 kHz) and its de-duplicated units."""
    from slamming.data.audio import read_audio
    from slamming.units.encoder import SAMPLE_RATE
    from slamming.units.vocabulary import deduplicate

    waves, units = [], []
    for path in paths:
        waves.append(read_audio(path, SAMPLE_RATE)[: int(seconds * SAMPLE_RATE)])
        units.append(deduplicate(assign(encoder.encode([torch.from_numpy(waves[-1])])[0]).numpy())[0].astype(np.int64))
    return waves, units


def speech_only(vocabulary) -> list:
    """For an interleaved model, a speech prompt's continuation is speech: every token but the units and EOS
    is masked before sampling (the model could otherwise switch to text, which has no sound). Nothing for a
    speech-only vocabulary."""
    if not vocabulary.interleaved:
        return []
    from transformers import LogitsProcessor

    class UnitsOnly(LogitsProcessor):
        def __call__(self, input_ids, scores):
            allowed = torch.full_like(scores, float("-inf"))
            allowed[:, vocabulary.unit_offset:vocabulary.unit_offset + vocabulary.num_units] = 0.0
            allowed[:, vocabulary.eos_id] = 0.0
            return scores + allowed

    return [UnitsOnly()]


def speech_prefix(vocabulary, units: np.ndarray) -> list[int]:
    """A speech prompt as the model continues it: ``BOS units``."""
    return [vocabulary.bos_id, *vocabulary.tokens(units).tolist()]


def text_prefix(vocabulary, text_ids: list[int]) -> list[int]:
    """A text prompt for an interleaved model to continue in speech: ``BOS <text> words <speech>``, as an interleaved
    document switches from text to speech."""
    return [vocabulary.bos_id, vocabulary.text_marker, *text_ids, vocabulary.speech_marker]


@torch.no_grad()
def sample_continuations(model, vocabulary, prefixes: list[list[int]], settings: dict, batch_size: int, seed: int,
                         device) -> list[np.ndarray]:
    """Unit ids sampled after each prompt's tokens (``speech_prefix`` or ``text_prefix``), EOS and anything after
    it dropped."""
    torch.manual_seed(seed)
    out = []
    for first in range(0, len(prefixes), batch_size):
        batch = prefixes[first:first + batch_size]
        length = max(len(b) for b in batch)
        input_ids = torch.full((len(batch), length), vocabulary.pad_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for i, row in enumerate(batch):  # left padding: every prompt ends where generation starts
            input_ids[i, length - len(row):], mask[i, length - len(row):] = torch.tensor(row), 1
        generated = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device), do_sample=True,
                                   logits_processor=speech_only(vocabulary),
                                   temperature=settings["temperature"], top_k=settings["top_k"],
                                   repetition_penalty=settings["repetition_penalty"], max_new_tokens=settings["max_new_tokens"],
                                   pad_token_id=vocabulary.pad_id, eos_token_id=vocabulary.eos_id)
        for row in generated[:, length:].cpu().numpy():
            ends = np.flatnonzero(row == vocabulary.eos_id)
            out.append(vocabulary.units(row[: ends[0]] if len(ends) else row))
    return out
