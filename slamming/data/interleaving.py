"""Speech-text interleaved documents (the paper's section 4.3), as the official code and the papers it follows
(SpiritLM) make them: some of an utterance's words are spoken (its units), the others written (its text).

* Which words are speech (``speech_words``): spans of words whose lengths are drawn from Poisson(lambda = 10),
  each starting at a random word that no span holds yet, never overlapping or touching another span, until
  at least ``speech_share`` (30 %) of the words are speech. Seeded; a span never splits a word. The last
  span overshoots, as in the official code: on average 0.32 of 200 words are spoken, 0.34 of 100, 0.42
  of 30.
* A speech span's units (``unit_range``): the de-duplicated units inside the span's time range, from the
  first word's start to the last word's end, on the 25 Hz frames before de-duplication: a unit belongs to
  the span when it ends at or after the span's start and at or before its end (as the official code's
  bisection over the units' end times).
* The document (``interleaved_document``): a modality marker (``<speech>`` or ``<text>``) before the first
  word and at every switch, the written words in the text LM's own tokenizer, the spoken words as unit
  tokens. The official code tokenises a run of written words as one string; here each word (with the
  leading space the aligner gives it) is tokenised alone, so that every token records where it came from
  (``sources``: a word, a unit, or a marker). For a byte-level BPE whose pre-tokeniser splits before a
  space (GPT-2's, Qwen2's) the ids are the same; the tests check it.

* The mixture (``mixture_scales``, ``mixture_probabilities``): text-only, speech-only and interleaved
  documents in proportions that balance their tokens, derived from the measured counts. Packing uses each
  source's documents a share of times (``mixture_scales``); the equivalent per-document probabilities of
  the official code's sampler (``mixture_probabilities``) are recorded beside them.

Pure functions over alignments and units: the stage that writes the documents (and its vocabulary: the text
LM's ids, then the units, then the two markers) builds on them.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

SPAN_MEAN = 10        # the Poisson lambda of a speech span's length in words
SPEECH_SHARE = 0.3    # the share of an utterance's words that are speech


def speech_words(words: int, rng: np.random.Generator, span_mean: float = SPAN_MEAN,
                 speech_share: float = SPEECH_SHARE) -> np.ndarray:
    """A boolean per word: True for the words to speak (see the module's docstring). At least
    ceil(words x speech_share) of them, unless the free words run out first."""
    wanted = math.ceil(words * speech_share)
    mask = np.zeros(words, dtype=bool)
    eligible = set(range(words))
    chosen = 0
    while chosen < wanted and eligible:
        start = int(rng.choice(sorted(eligible)))
        end = min(start + int(rng.poisson(span_mean)), words)
        if mask[start:end].any():
            continue  # it would overlap a span: draw again
        mask[start:end] = True
        chosen += end - start
        eligible -= set(range(start, end + 1))  # nor may the next span start right after this one
    return mask


def unit_range(durations: np.ndarray, frame_seconds: float, start: float, end: float) -> tuple[int, int]:
    """The de-duplicated units (their index range [first, last)) inside [start, end] seconds: those whose
    last frame ends in it. ``durations``: frames each unit lasted."""
    ends = np.cumsum(np.asarray(durations, dtype=np.int64)) * frame_seconds
    return bisect_left(ends, start), bisect_right(ends, end)


@dataclass(frozen=True)
class Markers:
    speech: int   # the token before a run of spoken words
    text: int     # the token before a run of written words


def interleaved_document(words: list[tuple[str, float, float]], units: np.ndarray, durations: np.ndarray,
                         frame_seconds: float, spoken: np.ndarray, tokenize, unit_tokens, markers: Markers
                         ) -> tuple[list[int], list[tuple[str, int]]]:
    """One utterance as an interleaved document: its tokens, and for each where it came from - ("marker", -1),
    ("word", i) for a token of word i's text, or ("unit", j) for unit j. ``words``: (text with its leading
    space, start, end seconds); ``spoken``: speech_words' mask; ``tokenize``: text -> the text LM's ids, no
    special tokens; ``unit_tokens``: unit ids -> their token ids (a vocabulary's ``tokens``)."""
    tokens: list[int] = []
    sources: list[tuple[str, int]] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and spoken[j] == spoken[i]:
            j += 1  # words i .. j-1 are one run of a modality
        tokens.append(markers.speech if spoken[i] else markers.text)
        sources.append(("marker", -1))
        if spoken[i]:
            first, last = unit_range(durations, frame_seconds, words[i][1], words[j - 1][2])
            tokens += np.asarray(unit_tokens(units[first:last])).tolist()
            sources += [("unit", k) for k in range(first, last)]
        else:
            for k in range(i, j):
                pieces = tokenize(words[k][0])
                tokens += pieces
                sources += [("word", k)] * len(pieces)
        i = j
    return tokens, sources


def mixture_probabilities(tokens: dict[str, int], documents: dict[str, int],
                          shares: dict[str, float] | None = None) -> dict[str, float]:
    """Per-document sampling probabilities of a mixture of sources (text, speech, interleaved) that give each
    its share of the tokens (equal shares by default, the paper's balance). The official code mixes per
    example with fixed probabilities (0.202, 0.543, 0.254); here they follow from the measured counts: a
    source whose documents are long is drawn less often. p(source) is proportional to its share over its
    mean document length."""
    shares = shares or {name: 1.0 for name in tokens}
    weights = {name: shares[name] * documents[name] / tokens[name] for name in tokens if documents[name] and tokens[name]}
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def mixture_scales(tokens: dict[str, int], shares: dict[str, float]) -> dict[str, float]:
    """How many times each source's documents are used so that the sources get ``shares`` of the tokens
    (normalised), the total the same as the sources' own: source s with T_s tokens is used
    share_s x sum(T) / T_s times (0.5: a seeded half of it; 2: twice)."""
    present = {name: shares[name] for name in tokens if tokens[name] and shares[name] > 0}
    total_share, total_tokens = sum(present.values()), sum(tokens[name] for name in present)
    return {name: share / total_share * total_tokens / tokens[name] for name, share in present.items()}


def token_shares(probabilities: dict[str, float], tokens: dict[str, int], documents: dict[str, int]) -> dict[str, float]:
    """The share of the tokens each source gets when documents are drawn with ``probabilities``."""
    expected = {name: p * tokens[name] / documents[name] for name, p in probabilities.items()}
    total = sum(expected.values())
    return {name: value / total for name, value in expected.items()}


def utterance_rng(seed: int, utterance: str) -> np.random.Generator:
    """An utterance's own generator: its spans depend on the seed and its id alone, not on the order of a shard."""
    import hashlib

    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(utterance.encode()).digest()[:8], "little")])


def interleave_corpus(alignments: list[dict], units: dict[str, dict], vocabulary, tokenize, seed: int,
                      span_mean: float = SPAN_MEAN, speech_share: float = SPEECH_SHARE) -> tuple[list[dict], dict]:
    """Interleaved documents of a corpus: for each utterance with both words (a row of a word-alignment
    table) and units (its units-table row: ``units`` and ``durations``), ``BOS document EOS`` in the
    interleaved ``vocabulary`` (``SpeechVocabulary.with_text``). Returns the documents (id, tokens) and what
    was made: documents, utterances left out and why, the share of words spoken and of tokens that are units."""
    markers = Markers(speech=vocabulary.speech_marker, text=vocabulary.text_marker)
    frame_seconds = 1.0 / vocabulary.frame_rate
    documents, left_out = [], {"no words": 0, "no units": 0}
    words_total = words_spoken = unit_tokens = tokens_total = 0
    for row in alignments:
        if not row.get("words"):
            left_out["no words"] += 1
            continue
        if row["id"] not in units:
            left_out["no units"] += 1
            continue
        words = [(w["word"], w["start"], w["end"]) for w in row["words"]]
        spoken = speech_words(len(words), utterance_rng(seed, row["id"]), span_mean, speech_share)
        tokens, sources = interleaved_document(words, np.asarray(units[row["id"]]["units"]), np.asarray(units[row["id"]]["durations"]),
                                               frame_seconds, spoken, tokenize, vocabulary.tokens, markers)
        documents.append({"id": row["id"], "tokens": [vocabulary.bos_id, *tokens, vocabulary.eos_id]})
        words_total, words_spoken = words_total + len(words), words_spoken + int(spoken.sum())
        unit_tokens += sum(1 for kind, _ in sources if kind == "unit")
        tokens_total += len(tokens) + 2
    return documents, {"documents": len(documents), "left_out": left_out,
                       "spoken_word_share": words_spoken / words_total if words_total else None,
                       "unit_token_share": unit_tokens / tokens_total if tokens_total else None, "tokens": tokens_total}
