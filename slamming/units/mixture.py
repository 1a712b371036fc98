"""The pretraining data of an interleaved run (the paper's section 4.3): speech-only, interleaved and text-only
documents in one vocabulary (``SpeechVocabulary.with_text``), mixed so that their tokens balance.

* speech: the run's speech-only mix (``data.pretrain``), each utterance ``BOS units EOS`` with no marker, as
  the official code's speech-only examples and as the speech benchmarks are scored;
* interleaved: each utterance of the interleaved corpora with its words (a word-alignment table) and its
  units (its units table), ``BOS document EOS`` (``interleaving.interleave_corpus``); its split is its units';
* text: each document of the text corpora, ``BOS text EOS`` in the base LM's own tokenizer.

How many times each source is used follows from its measured training tokens (``mixture_scales``); the
validation split is mixed with the training split's scales. ``packing.json`` records the tokens, the scales,
the official sampler's equivalent per-document probabilities and the token shares packed.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from slamming.artifacts import read_parquet
from slamming.data.interleaving import interleave_corpus, mixture_probabilities, mixture_scales, token_shares
from slamming.units.packing import Documents, mix_order, order_tokens, read_documents, token_documents
from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("mixture")

SOURCES = ("speech", "interleaved", "text")
TEXT_BATCH = 1000  # documents tokenised at once


def text_ids(folder: str | Path) -> tuple[int, int, int]:
    """(the rows of a text LM's embedding, its boundary token - EOS, else BOS -, its padding token - else the
    boundary): what ``SpeechVocabulary.with_text`` puts before the units. The units come after every row of the
    embedding, so that none of them starts from a row the text LM reserved but never trained."""
    from transformers import AutoTokenizer

    config = json.loads((Path(folder) / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    boundary = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.bos_token_id
    if boundary is None:
        raise ValueError(f"{folder}: its tokenizer has neither an EOS nor a BOS token to bound a document")
    rows = config.get("vocab_size") or config.get("text_config", {}).get("vocab_size")
    return int(max(rows, len(tokenizer))), int(boundary), int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else boundary)


def word_tokenizer(tokenizer):
    """A word's ids without special tokens, each distinct word tokenised once (words repeat: a corpus's
    hundreds of millions of words are a few hundred thousand distinct ones)."""
    @lru_cache(maxsize=1_000_000)
    def tokenize(word: str) -> tuple[int, ...]:
        return tuple(tokenizer(word, add_special_tokens=False)["input_ids"])

    return lambda word: list(tokenize(word))


def interleaved_documents(words_path: str | Path, units_path: str | Path, split: str, vocabulary: SpeechVocabulary,
                          tokenize, seed: int, span_mean: float, speech_share: float) -> tuple[Documents, dict]:
    """The interleaved documents of a corpus's ``split`` and what was made (``interleave_corpus``'s report)."""
    units = read_parquet(units_path, columns=["id", "split", "units", "durations"])
    units = units.filter(pc.equal(units["split"], split))
    by_id = {row["id"]: row for row in units.to_pylist()}
    alignments = [row for row in read_parquet(words_path).to_pylist() if row["id"] in by_id]
    documents, report = interleave_corpus(alignments, by_id, vocabulary, tokenize, seed, span_mean, speech_share)
    report["left_out"]["no words"] += len(by_id) - len(alignments)  # an utterance the aligner never saw
    return token_documents([d["tokens"] for d in documents], vocabulary), report


def text_documents(path: str | Path, split: str, vocabulary: SpeechVocabulary, tokenizer) -> Documents:
    """The documents of a filtered text corpus's ``split``, ``BOS text EOS``."""
    table = read_parquet(path, columns=["split", "text"])
    texts = table.filter(pc.equal(table["split"], split))["text"].to_pylist()
    rows = []
    for first in range(0, len(texts), TEXT_BATCH):
        for ids in tokenizer(texts[first:first + TEXT_BATCH], add_special_tokens=False)["input_ids"]:
            rows.append([vocabulary.bos_id, *ids, vocabulary.eos_id])
    return token_documents(rows, vocabulary)


class Mixture:
    """The three sources of an interleaved run's data, split by split. ``settings``: {"speech": {corpus:
    {"units", "weight"}}, "interleaved": {corpus: {"units", "words"}}, "text": {name: {"documents", "weight"}},
    "speech_share", "span_mean", "shares", "text_lm"}."""

    def __init__(self, settings: dict, vocabulary: SpeechVocabulary, seed: int):
        from transformers import AutoTokenizer

        self.settings, self.vocabulary, self.seed = settings, vocabulary, seed
        self.tokenizer = AutoTokenizer.from_pretrained(settings["text_lm"])
        self.tokenize = word_tokenizer(self.tokenizer)
        self.scales: dict[str, float] | None = None  # from the training split

    def split(self, split: str) -> tuple[list[Documents], np.ndarray, dict]:
        """The split's documents (one set per corpus), the seeded order over them, and what was made."""
        settings, vocabulary = self.settings, self.vocabulary
        sets, sources, weights, interleaving = [], [], [], {}
        for corpus, spec in settings["speech"].items():
            sets.append(read_documents(spec["units"], split, vocabulary))
            sources.append("speech")
            weights.append(spec["weight"])
        for corpus, spec in settings["interleaved"].items():
            documents, interleaving[corpus] = interleaved_documents(spec["words"], spec["units"], split, vocabulary, self.tokenize,
                                                                    self.seed, settings["span_mean"], settings["speech_share"])
            sets.append(documents)
            sources.append("interleaved")
            weights.append(1.0)
        for name, spec in settings["text"].items():
            sets.append(text_documents(spec["documents"], split, vocabulary, self.tokenizer))
            sources.append("text")
            weights.append(spec["weight"])
        tokens = {source: 0 for source in SOURCES}
        documents = {source: 0 for source in SOURCES}
        for d, source, weight in zip(sets, sources, weights):
            tokens[source] += round(int(d.lengths.sum()) * weight)
            documents[source] += round(len(d) * weight)
        if self.scales is None:
            if not all(tokens[source] for source in SOURCES if settings["shares"][source] > 0):
                empty = [source for source in SOURCES if not tokens[source] and settings["shares"][source] > 0]
                raise ValueError(f"interleaving: no {' or '.join(empty)} tokens in the {split} split; check the corpora "
                                 f"of interleaving and data.pretrain, or set interleaving.shares.{empty[0]}: 0")
            self.scales = mixture_scales(tokens, settings["shares"])
        scaled = [weight * self.scales.get(source, 0.0) for source, weight in zip(sources, weights)]
        order = mix_order([len(d) for d in sets], scaled, self.seed)
        packed = {source: 0 for source in SOURCES}
        for source, count in zip(sources, order_tokens(sets, order)):
            packed[source] += count
        total = sum(packed.values())
        made = [r for r in interleaving.values() if r["tokens"]]
        unit_share = sum(r["unit_token_share"] * r["tokens"] for r in made) / sum(r["tokens"] for r in made) if made else 0.0
        probabilities = mixture_probabilities({s: tokens[s] for s in self.scales}, {s: documents[s] for s in self.scales},
                                              {s: settings["shares"][s] for s in self.scales})
        report = {"tokens_before_mixing": tokens, "documents_before_mixing": documents, "scales": self.scales,
                  "sampling_probabilities": probabilities,
                  "expected_token_shares": token_shares(probabilities, {s: tokens[s] for s in probabilities},
                                                        {s: documents[s] for s in probabilities}),
                  "token_shares": {source: count / total if total else None for source, count in packed.items()},
                  # the share of the packed tokens that are units: the speech-only documents' and the
                  # interleaved documents' spans (their corpora's mean share)
                  "speech_token_share": (packed["speech"] + unit_share * packed["interleaved"]) / total if total else None,
                  "interleaved_corpora": interleaving}
        return sets, order, report
