"""Bigram auto-BLEU against values worked out by hand."""

import pytest

from workflow_scripts.autobleu import auto_bleu, mean_auto_bleu


@pytest.mark.parametrize("text, expected", [
    ("the cat sat on the mat", 0.0),                  # 5 bigrams, all different
    ("the cat the cat", 2 / 3),                       # the-cat twice, cat-the once
    ("a b a b a b", 1.0),                             # a-b x3, b-a x2: every bigram repeats
    ("The cat. The cat!", 2 / 3),                     # case and punctuation do not matter
    ("hello", 0.0),                                   # no bigram
    ("", 0.0),
])
def test_auto_bleu_by_hand(text, expected):
    assert auto_bleu(text) == pytest.approx(expected)


def test_mean_over_utterances():
    assert mean_auto_bleu(["a b a b a b", "the cat sat"]) == pytest.approx(0.5)
    assert mean_auto_bleu([]) == 0.0
