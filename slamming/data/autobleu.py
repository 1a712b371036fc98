"""Bigram auto-BLEU: how much a text repeats itself, as the paper's official code measures it.

A text is split into words by NLTK's ``NLTKWordTokenizer`` (called directly, as the official code does:
case kept, punctuation as tokens of their own, contractions split - "don't" is "do" and "n't"; the
tokenizer needs no downloaded data). Its score is the share of its word bigrams that also occur at
another position of the same text (0 for no repetition, 1 when every bigram repeats); a text with
fewer than two words scores 0. A set's score is the mean over its texts; the paper prints it x100.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache


@lru_cache(maxsize=1)
def _tokenizer():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def word_tokens(text: str) -> list[str]:
    """The words of ``text`` as the official auto-BLEU sees them."""
    return _tokenizer().tokenize(text)


def auto_bleu(text: str, n: int = 2) -> float:
    tokens = word_tokens(text)
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    return sum(1 for g in grams if counts[g] > 1) / len(grams)


def mean_auto_bleu(texts: list[str], n: int = 2) -> float:
    return sum(auto_bleu(t, n) for t in texts) / len(texts) if texts else 0.0
