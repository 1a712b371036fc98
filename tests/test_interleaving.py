"""Interleaved documents (slamming.data.interleaving): which words are spoken, which units a spoken span
takes, and the document's tokens, each traced back to its source."""

from __future__ import annotations

import numpy as np
import pytest

from slamming.data.interleaving import Markers, interleaved_document, speech_words, unit_range

FRAME = 0.04  # 25 Hz


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) runs of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def test_about_30_percent_of_the_words_are_spoken_in_spans_that_never_touch():
    shares, lengths = [], []
    for seed in range(200):
        mask = speech_words(200, np.random.default_rng(seed))
        spans = runs(mask)
        shares.append(mask.mean())
        lengths += [end - start for start, end in spans]
        assert mask.sum() >= 60  # ceil(200 x 0.3), the official code's stopping rule
        # a span is one Poisson draw: two spans never touch (else they would read as one longer one)
        assert all(b_start > a_end for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert 0.3 <= np.mean(shares) < 0.36  # the last span overshoots by a few words
    assert np.mean(lengths) == pytest.approx(10, abs=1.5)  # Poisson(10), less the spans cut at the end


def test_the_same_seed_chooses_the_same_words_and_a_short_utterance_is_spoken_at_most_whole():
    assert (speech_words(50, np.random.default_rng(3)) == speech_words(50, np.random.default_rng(3))).all()
    assert speech_words(1, np.random.default_rng(0)).sum() <= 1
    assert speech_words(0, np.random.default_rng(0)).sum() == 0


def test_a_spans_units_are_those_that_end_inside_its_time_range():
    durations = np.array([5, 5, 10, 5])  # units end at 0.2, 0.4, 0.8 and 1.0 s
    assert unit_range(durations, FRAME, 0.0, 0.4) == (0, 2)
    assert unit_range(durations, FRAME, 0.3, 0.8) == (1, 3)
    assert unit_range(durations, FRAME, 0.81, 0.95) == (3, 3)  # a word inside one long unit: none ends there


class Words:
    """A stand-in tokenizer: one id per character, offset past the units' range."""

    @staticmethod
    def tokenize(text: str) -> list[int]:
        return [1000 + ord(c) for c in text]


def test_every_token_of_a_document_maps_back_to_its_source_and_a_marker_opens_every_run():
    words = [(" the", 0.0, 0.2), (" cat", 0.2, 0.6), (" sat", 0.6, 1.0), (" on", 1.0, 1.2), (" it", 1.2, 1.6)]
    durations = np.array([5] * 8)  # eight units of 0.2 s, 1.6 s in all
    units = np.arange(8) + 10
    spoken = np.array([False, True, True, False, True])
    markers = Markers(speech=900, text=901)
    tokens, sources = interleaved_document(words, units, durations, FRAME, spoken, Words.tokenize, lambda us: 500 + us, markers)
    assert len(tokens) == len(sources)
    rebuilt = []
    for token, (kind, index) in zip(tokens, sources):
        if kind == "unit":
            assert token == 500 + units[index]
        elif kind == "word":
            rebuilt.append((index, chr(token - 1000)))
        else:
            assert token in (900, 901)
    # the written words come back whole, in order; the spoken words are not written
    text = {}
    for index, char in rebuilt:
        text[index] = text.get(index, "") + char
    assert text == {0: " the", 3: " on"}
    # units: " cat sat" is 0.2 to 1.0 s, the units ending at 0.2 .. 1.0 (the one ending on its start too, as
    # the official code's bisection takes it); " it" is 1.2 to 1.6 s, the units ending at 1.2 .. 1.6
    assert [i for kind, i in sources if kind == "unit"] == [0, 1, 2, 3, 4, 5, 6, 7]
    # a marker before each run: text, speech, text, speech
    assert [t for t, (kind, _) in zip(tokens, sources) if kind == "marker"] == [901, 900, 901, 900]
    assert tokens[0] == 901 and sources[0] == ("marker", -1)


def test_word_by_word_gives_the_ids_of_the_run_as_one_string_for_a_byte_level_bpe():
    """The official code tokenises a run of written words as one string; word by word (with their leading
    spaces) gives the same ids for the byte-level BPE of the demo's text LM, whose pre-tokeniser splits
    before a space."""
    from slamming.training.text_lm import train_tokenizer

    stories = ["Once upon a time, a little fox found a red ball.", "She went home and slept."] * 20
    tokenizer = train_tokenizer(stories, 300)
    words = [" Once", " upon", " a", " time,", " a", " little", " fox", " found", " a", " red", " ball."]
    word_by_word = [i for w in words for i in tokenizer(w, add_special_tokens=False)["input_ids"]]
    assert word_by_word == tokenizer("".join(words), add_special_tokens=False)["input_ids"]


def test_mixture_probabilities_balance_the_tokens_of_sources_of_different_lengths():
    from slamming.data.interleaving import mixture_probabilities, token_shares

    tokens = {"text": 2_000_000, "speech": 9_000_000, "interleaved": 3_000_000}
    documents = {"text": 10_000, "speech": 9_000, "interleaved": 6_000}  # 200, 1000 and 500 tokens a document
    probabilities = mixture_probabilities(tokens, documents)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert probabilities["text"] > probabilities["interleaved"] > probabilities["speech"]  # short documents drawn more
    assert all(share == pytest.approx(1 / 3) for share in token_shares(probabilities, tokens, documents).values())
    # a configured share: half the tokens interleaved
    halves = mixture_probabilities(tokens, documents, {"text": 0.25, "speech": 0.25, "interleaved": 0.5})
    assert token_shares(halves, tokens, documents)["interleaved"] == pytest.approx(0.5)


def test_a_corpus_becomes_interleaved_documents_with_the_spoken_share_and_its_reasons():
    from slamming.data.interleaving import interleave_corpus
    from slamming.units.vocabulary import SpeechVocabulary

    vocabulary = SpeechVocabulary.with_text(SpeechVocabulary(tokeniser="t", num_units=100, frame_rate=25.0),
                                            text_vocab_size=1300, boundary_id=3, pad_id=3)
    rng = np.random.default_rng(0)
    alignments, units = [], {}
    for n in range(40):
        words = [{"word": f" w{k}", "start": 0.4 * k, "end": 0.4 * k + 0.3} for k in range(100)]  # 40 s, 100 words
        alignments.append({"id": f"u{n}", "words": words})
        units[f"u{n}"] = {"units": rng.integers(0, 100, 200).tolist(), "durations": [5] * 200}  # 200 units of 0.2 s
    alignments += [{"id": "silent", "words": None}, {"id": "unextracted", "words": [{"word": " x", "start": 0.0, "end": 0.1}]}]
    documents, report = interleave_corpus(alignments, units, vocabulary, Words.tokenize, seed=0)
    assert report["documents"] == 40 and report["left_out"] == {"no words": 1, "no units": 1}
    # at least 30 % of each utterance's words, and the last span's overshoot (more in short utterances)
    assert 0.3 <= report["spoken_word_share"] < 0.4 and 0 < report["unit_token_share"] < 1
    for document in documents:
        assert document["tokens"][0] == document["tokens"][-1] == 3  # the text LM's boundary at both ends
        assert max(document["tokens"]) <= vocabulary.text_marker
    # the spans depend on the seed and the utterance alone: the same documents in any order
    again, _ = interleave_corpus(alignments[::-1], units, vocabulary, Words.tokenize, seed=0)
    assert {d["id"]: d["tokens"] for d in again} == {d["id"]: d["tokens"] for d in documents}
    other, _ = interleave_corpus(alignments, units, vocabulary, Words.tokenize, seed=1)
    assert [d["tokens"] for d in other] != [d["tokens"] for d in documents]
