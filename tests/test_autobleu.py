"""Bigram auto-BLEU against values worked out by hand, with the official code's tokenisation (NLTK's
NLTKWordTokenizer: case kept, punctuation and contractions split). Each case with a comment gives
another value under lower-casing and punctuation stripping."""

import pytest

from slamming.data.autobleu import auto_bleu, mean_auto_bleu, word_tokens


@pytest.mark.parametrize("text, expected", [
    ("the cat sat on the mat", 0.0),                  # 5 bigrams, all different
    ("the cat the cat", 2 / 3),                       # the-cat twice, cat-the once
    ("a b a b a b", 1.0),                             # a-b x3, b-a x2: every bigram repeats
    ("the cat The cat", 0.0),                         # case counts: lower-cased, the-cat would repeat (2/3)
    ("the cat, the cat", 2 / 4),                      # the comma is a token: the-cat, cat-",", ","-the, the-cat (not 2/3)
    ("don't stop don't stop", 4 / 5),                 # do n't stop do n't stop: do-n't and n't-stop repeat (not 2/3)
    ("The cat. The cat!", 0.0),                       # "cat." inside the text stays one token, the last "!" is split off
    ("hello", 0.0),                                   # no bigram
    ("", 0.0),
])
def test_auto_bleu_by_hand(text, expected):
    assert auto_bleu(text) == pytest.approx(expected)


def test_the_tokens_are_nltks():
    assert word_tokens("Don't stop, Tom!") == ["Do", "n't", "stop", ",", "Tom", "!"]


def test_mean_over_utterances():
    assert mean_auto_bleu(["a b a b a b", "the cat sat"]) == pytest.approx(0.5)
    assert mean_auto_bleu([]) == 0.0
