"""Cross-modal StoryCloze (for interleaved speech-text models), in the official code's layout: each story is
three parts, ``<n>_mutual`` (the story's beginning), ``<n>_correct`` and ``<n>_incorrect`` (its two endings),
each as speech (``.wav``) and as text (``.txt``), in one folder or one folder per part of the set. A
direction takes the beginning in one modality and the endings in another: speech to text, text to speech,
text to text (and speech to speech, which is spoken StoryCloze). A story is found by its ``_correct.wav``,
as the official code finds it.
"""

from __future__ import annotations

from pathlib import Path

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
