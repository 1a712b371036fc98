"""Bigram auto-BLEU: how much an utterance repeats itself.

Per utterance, the share of its word bigrams that also occur elsewhere in the same utterance (0 for
no repetition, 1 when every bigram repeats); a set's score is the mean over utterances. The paper
prints it multiplied by 100. Words are lower-cased and stripped of punctuation first, so "The cat."
and "the cat" are the same words.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def auto_bleu(text: str, n: int = 2) -> float:
    tokens = words(text)
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    return sum(1 for g in grams if counts[g] > 1) / len(grams)


def mean_auto_bleu(texts: list[str], n: int = 2) -> float:
    return sum(auto_bleu(t, n) for t in texts) / len(texts) if texts else 0.0
