"""Cross-modal StoryCloze (for interleaved speech-text models), in the official code's layout: each story is
three parts, ``<n>_mutual`` (the story's beginning), ``<n>_correct`` and ``<n>_incorrect`` (its two endings),
each as speech (``.wav``) and as text (``.txt``), in one folder or one folder per part of the set. A
direction takes the beginning in one modality and the endings in another: speech to text, text to speech,
text to text (and speech to speech, which is spoken StoryCloze). A story is found by its ``_correct.wav``,
as the official code finds it.

A story is scored as the interleaved model was trained (``slamming.data.interleaving``): ``BOS``, a marker
(``<speech>`` or ``<text>``) before the beginning and another where the ending switches modality, the speech as
its units, the text in the text LM's tokenizer (an ending with the space that separates it from the beginning).
Speech to speech has no marker, as the speech-only benchmarks are scored. The two endings are compared by
the mean log-likelihood of the whole sequence, as spoken StoryCloze is (``likelihood.PAPER_AGGREGATION``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PARTS = ("mutual", "correct", "incorrect")
DIRECTIONS = {"speech_to_text": ("wav", "txt"), "text_to_speech": ("txt", "wav"), "text_to_text": ("txt", "txt"),
              "speech_to_speech": ("wav", "wav")}


def cross_modal_items(folder: str | Path) -> tuple[list[dict], dict[str, list[str]]]:
    """Every story of the set: its id (the path below ``folder`` without the part) and the six files; and,
    for stories a file is missing from, which."""
    folder = Path(folder)
    items, missing = [], {}
    for correct in sorted(folder.rglob("*_correct.wav")):
        base = str(correct)[: -len("_correct.wav")]
        story = str(Path(base).relative_to(folder))
        files = {f"{part}_{kind}": Path(f"{base}_{part}.{kind}") for part in PARTS for kind in ("wav", "txt")}
        absent = [path.name for path in files.values() if not path.exists()]
        if absent:
            missing[story] = absent
        else:
            items.append({"id": story, **{key: str(path) for key, path in files.items()}})
    return items, missing


def direction_pair(item: dict, direction: str) -> dict:
    """A story as the pair a direction scores: the beginning in the prompt's modality, each ending in the
    continuation's, as (kind, file) - kind "wav" or "txt"."""
    prompt, ending = DIRECTIONS[direction]
    return {"id": item["id"], "prompt": (prompt, item[f"mutual_{prompt}"]),
            "positive": (ending, item[f"correct_{ending}"]), "negative": (ending, item[f"incorrect_{ending}"])}


def story_sequence(prompt: tuple[str, object], ending: tuple[str, object], vocabulary, tokenize) -> list[int]:
    """The tokens of a beginning and one ending, each ("wav", its units) or ("txt", its text)."""
    def segment(kind: str, content, leading_space: bool) -> list[int]:
        if kind == "wav":
            return vocabulary.tokens(np.asarray(content)).tolist()
        text = str(content).strip()
        return list(tokenize(f" {text}" if leading_space else text))

    (prompt_kind, prompt_content), (ending_kind, ending_content) = prompt, ending
    if prompt_kind == ending_kind == "wav":
        return [vocabulary.bos_id, *segment("wav", prompt_content, False), *segment("wav", ending_content, False)]
    marker = {"wav": vocabulary.speech_marker, "txt": vocabulary.text_marker}
    tokens = [vocabulary.bos_id, marker[prompt_kind], *segment(prompt_kind, prompt_content, False)]
    if ending_kind != prompt_kind:
        tokens.append(marker[ending_kind])
    return tokens + segment(ending_kind, ending_content, True)


def score_cross_modal(model, vocabulary, tokenize, items: list[dict], units: dict[str, np.ndarray], batch_tokens: int,
                      device, directions=tuple(DIRECTIONS)) -> tuple[list[dict], dict]:
    """Each story in each direction: per-pair rows (with ``direction``) and a summary per direction (accuracy,
    interval over stories). ``units``: the speech files' units by path; a text file is read where it lies."""
    from slamming.evaluation.likelihood import score_pairs, score_utterances

    def content(kind: str, path: str):
        return units[path] if kind == "wav" else Path(path).read_text(encoding="utf-8")

    rows, summary = [], {}
    for direction in directions:
        sequences, pairs = {}, []
        for item in items:
            pair = direction_pair(item, direction)
            prompt = (pair["prompt"][0], content(*pair["prompt"]))
            for side in ("positive", "negative"):
                sequences[f"{item['id']}/{side}"] = story_sequence(prompt, (pair[side][0], content(*pair[side])), vocabulary, tokenize)
            pairs.append({"id": item["id"], "positive_id": f"{item['id']}/positive", "negative_id": f"{item['id']}/negative"})
        scored, summary[direction] = score_pairs(pairs, score_utterances(model, sequences, batch_tokens, device))
        rows += [{**row, "direction": direction} for row in scored]
    return rows, summary
