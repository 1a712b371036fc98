"""Interleaving's data (the paper's section 4.3): text corpora through the Gopher rules, the interleaved
vocabulary, the mixture of speech, interleaved and text documents, and a budget of another run's FLOPs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slamming.data.alignment import WORDS_SCHEMA, words_row
from slamming.data.interleaving import mixture_scales
from slamming.units.vocabulary import UNITS_SCHEMA, SpeechVocabulary

DEMO_TEXT = {"seed": 20250219, "stories": {"train": 60, "valid": 6}, "documents": {"stories_per_document": 3}}


# --- text corpora -------------------------------------------------------------------------------

def test_the_gopher_rules_reject_every_kind_of_debris_and_keep_the_stories():
    from slamming.data.demo_text import DEBRIS, generate
    from slamming.data.text_corpora import filter_documents

    table, _ = generate("documents", DEMO_TEXT)
    kept, rejected = filter_documents([{k: r[k] for k in ("id", "split", "text")} for r in table], "gopher")
    reasons = {row["id"]: row["reason"] for row in rejected}
    assert {f"debris_{kind}" for kind in DEBRIS} <= set(reasons)  # every piece of debris, each with the rule it broke
    assert all(reasons[f"debris_{kind}"] for kind in DEBRIS)
    stories = [r for r in table if r["kind"] == "stories"]
    assert len([r for r in kept if r["id"].startswith("document_")]) >= 0.9 * len(stories)
    assert {r["split"] for r in kept} == {"train", "valid"}
    # nothing is lost: every document is kept or rejected with a reason
    assert len(kept) + len(rejected) == len(table)


def test_no_filter_keeps_all_but_the_empty_and_a_source_is_read_from_its_files(tmp_path):
    from slamming.data.text_corpora import file_documents, filter_documents, split_of

    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": t, "meta": {}}) for t in ["one doc", "", "two doc"]) + "\n")
    pq.write_table(pa.table({"text": ["three doc"]}), tmp_path / "b.parquet")
    documents = list(file_documents(tmp_path, "*.jsonl", "text", 0.5))
    assert [d["id"] for d in documents] == ["a.jsonl:0", "a.jsonl:1", "a.jsonl:2"]
    assert [d["split"] for d in documents] == [split_of(d["id"], 0.5) for d in documents]  # the id alone decides
    kept, rejected = filter_documents(documents, "none")
    assert [d["text"] for d in kept] == ["one doc", "two doc"] and rejected[0]["reason"] == "empty"
    assert [d["text"] for d in file_documents(tmp_path, "*.parquet", "text", 0.0)] == ["three doc"]
    assert len(list(file_documents(tmp_path, "*.jsonl", "text", 0.0, max_documents=2))) == 2
    with pytest.raises(FileNotFoundError, match=r"no files match '\*.json'"):
        list(file_documents(tmp_path, "*.json", "text", 0.0))


# --- the mixture ---------------------------------------------------------------------------------

def test_scales_give_each_source_its_share_of_the_tokens():
    tokens = {"speech": 9000, "interleaved": 3000, "text": 1000}
    scales = mixture_scales(tokens, {"speech": 1.0, "interleaved": 1.0, "text": 1.0})
    used = {name: tokens[name] * scales[name] for name in tokens}
    assert sum(used.values()) == pytest.approx(sum(tokens.values()))
    assert all(value == pytest.approx(sum(tokens.values()) / 3) for value in used.values())
    skewed = mixture_scales(tokens, {"speech": 2.0, "interleaved": 1.0, "text": 0.0})
    assert set(skewed) == {"speech", "interleaved"} and tokens["speech"] * skewed["speech"] == pytest.approx(
        2 * tokens["interleaved"] * skewed["interleaved"])


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """A text LM's tokenizer and config, a units table, its words timed, and a text corpus: 40 utterances."""
    from slamming.data.demo_text import generate
    from slamming.training.text_lm import train_tokenizer

    folder = tmp_path_factory.mktemp("world")
    stories = generate("stories", DEMO_TEXT)[1]
    tokenizer = train_tokenizer([s["text"] for s in stories], 300)
    tokenizer.save_pretrained(folder / "text_lm")
    (folder / "text_lm" / "config.json").write_text(json.dumps({"vocab_size": 320}))  # more rows than ids, as Qwen2.5
    rng = np.random.default_rng(0)
    units_rows, words_rows, texts = [], [], []
    for k, story in enumerate(stories[:40]):
        words = story["text"].split()
        durations = rng.integers(1, 4, size=len(words) * 6)   # ~6 units a word
        seconds = np.cumsum(durations) * 0.04
        timed = [(f" {w}", float(seconds[6 * i] - durations[6 * i] * 0.04), float(seconds[6 * i + 5])) for i, w in enumerate(words)]
        split = "valid" if k % 10 == 0 else "train"
        units_rows.append({"id": story["id"], "split": split, "units": rng.integers(0, 50, size=len(durations)).tolist(),
                           "durations": durations.tolist(), "num_frames": int(durations.sum())})
        words_rows.append(words_row(story["id"], timed))
        texts.append({"id": f"text_{k}", "split": split, "text": story["text"]})
    words_rows.append(words_row("never_spoken", [(" a", 0.0, 0.1)]))  # words without units: left out
    pq.write_table(pa.Table.from_pylist(units_rows, schema=UNITS_SCHEMA), folder / "units.parquet")
    pq.write_table(pa.Table.from_pylist(words_rows, schema=WORDS_SCHEMA), folder / "words.parquet")
    pq.write_table(pa.Table.from_pylist(texts), folder / "text.parquet")
    speech = SpeechVocabulary(tokeniser="t", num_units=50, frame_rate=25.0)
    speech.save(folder / "speech_vocabulary.json")
    SpeechVocabulary.with_text(speech, 320, 1, 0).save(folder / "vocabulary.json")  # as rule interleaved_vocabulary makes it
    return folder


def test_the_interleaved_vocabulary_puts_the_units_after_every_row_of_the_text_lm(small_world):
    from workflow_scripts.interleaved_vocabulary import main

    assert main(["--speech", str(small_world / "speech_vocabulary.json"), "--text-lm", str(small_world / "text_lm"),
                 "--out", str(small_world / "made" / "vocabulary.json")]) == 0
    vocabulary = SpeechVocabulary.load(small_world / "made" / "vocabulary.json")
    assert vocabulary == SpeechVocabulary.load(small_world / "vocabulary.json")
    assert vocabulary.unit_offset == 320 and vocabulary.vocab_size == 320 + 50 + 2
    assert (vocabulary.speech_marker, vocabulary.text_marker) == (370, 371)
    assert vocabulary.bos_id == vocabulary.eos_id == 1 and vocabulary.pad_id == 0  # the text LM's own boundary and pad


def test_the_mixture_balances_the_sources_and_every_document_is_in_the_vocabulary(small_world):
    from slamming.units.mixture import Mixture

    vocabulary = SpeechVocabulary.load(small_world / "vocabulary.json")
    settings = {"speech": {"speech_corpus": {"units": str(small_world / "units.parquet"), "weight": 1.0}},
                "interleaved": {"speech_corpus": {"units": str(small_world / "units.parquet"), "words": str(small_world / "words.parquet")}},
                "text": {"texts": {"documents": str(small_world / "text.parquet"), "weight": 1.0}},
                "text_lm": str(small_world / "text_lm"), "speech_share": 0.3, "span_mean": 10.0,
                "shares": {"speech": 1.0, "interleaved": 1.0, "text": 1.0}}
    mixture = Mixture(settings, vocabulary, seed=0)
    sets, order, report = mixture.split("train")
    speech, interleaved, text = sets
    # within a few documents of a third each (whole documents are drawn)
    assert all(share == pytest.approx(1 / 3, abs=0.06) for share in report["token_shares"].values()), report["token_shares"]
    assert report["interleaved_corpora"]["speech_corpus"]["documents"] == 36
    assert report["interleaved_corpora"]["speech_corpus"]["left_out"]["no units"] == 0  # "never_spoken" is not in train's units
    assert 0.3 <= report["interleaved_corpora"]["speech_corpus"]["spoken_word_share"] < 0.5
    markers = {vocabulary.speech_marker, vocabulary.text_marker}
    for documents in sets:
        assert int(documents.tokens.max()) < vocabulary.vocab_size
        for i in range(len(documents)):
            tokens = documents.tokens[documents.offsets[i]:documents.offsets[i + 1]]
            assert tokens[0] == vocabulary.bos_id and tokens[-1] == vocabulary.eos_id
    units = lambda t: (t >= vocabulary.unit_offset) & (t < vocabulary.unit_offset + vocabulary.num_units)  # noqa: E731
    assert not np.isin(speech.tokens, list(markers)).any()              # speech alone: no marker, as it is scored
    assert units(speech.tokens[1:-1]).mean() > 0.9
    assert not units(text.tokens).any() and not np.isin(text.tokens, list(markers)).any()
    assert np.isin(interleaved.tokens, list(markers)).any() and units(interleaved.tokens).any()
    assert 0 < report["speech_token_share"] < 1
    # the validation split is mixed with the training split's scales
    _, _, valid = mixture.split("valid")
    assert valid["scales"] == report["scales"]


def test_a_mixture_without_any_text_says_which_source_is_empty(small_world, tmp_path):
    from slamming.units.mixture import Mixture

    pq.write_table(pa.table({"id": ["x"], "split": ["valid"], "text": ["only valid"]}), tmp_path / "text.parquet")
    settings = {"speech": {"s": {"units": str(small_world / "units.parquet"), "weight": 1.0}},
                "interleaved": {}, "text": {"t": {"documents": str(tmp_path / "text.parquet"), "weight": 1.0}},
                "text_lm": str(small_world / "text_lm"), "speech_share": 0.3, "span_mean": 10.0,
                "shares": {"speech": 1.0, "interleaved": 0.0, "text": 1.0}}
    with pytest.raises(ValueError, match="no text tokens in the train split"):
        Mixture(settings, SpeechVocabulary.load(small_world / "vocabulary.json"), seed=0).split("train")


# --- a budget of FLOPs ---------------------------------------------------------------------------

def test_a_flops_budget_ends_training_when_the_flops_are_spent():
    from slamming.training.engine import Budget

    budget = Budget.from_config({"hours": None, "max_steps": None, "max_flops": 1e12})
    assert budget.progress(0, 0, 0.0, 10, flops=5e11) == pytest.approx(0.5)
    assert budget.progress(0, 0, 0.0, 10, flops=1e12) >= 1.0
    with pytest.raises(ValueError, match="max_flops"):
        Budget.from_config({"hours": None})


def test_equal_compute_reads_the_other_runs_flops_and_refuses_a_summary_without_them(tmp_path):
    from workflow_scripts.pretrain import equal_compute

    (tmp_path / "a.json").write_text(json.dumps({"training_flops": 3.5e15}))
    (tmp_path / "b.json").write_text(json.dumps({"steps": 10}))
    assert equal_compute(str(tmp_path / "a.json")) == 3.5e15
    with pytest.raises(ValueError, match="b.json: no training_flops"):
        equal_compute(str(tmp_path / "b.json"))


# --- cross-modal StoryCloze ----------------------------------------------------------------------

def test_a_cross_modal_story_is_tokenised_as_the_interleaved_model_was_trained(tmp_path):
    from slamming.evaluation.cross_modal import story_sequence

    vocabulary = SpeechVocabulary.with_text(SpeechVocabulary(tokeniser="t", num_units=10, frame_rate=25.0), 100, 1, 0)
    words = lambda text: [50 + len(w) for w in text.split(" ")]  # noqa: E731 - a stand-in tokenizer that sees the space
    speech, text = ("wav", np.array([3, 4])), ("txt", "a cat")
    unit_ids = vocabulary.tokens(np.array([3, 4])).tolist()
    s, t = vocabulary.speech_marker, vocabulary.text_marker
    assert story_sequence(speech, speech, vocabulary, words) == [1, *unit_ids, *unit_ids]          # no marker, as speech alone
    assert story_sequence(speech, text, vocabulary, words) == [1, s, *unit_ids, t, 50, 51, 53]    # " a cat": the space kept
    assert story_sequence(text, speech, vocabulary, words) == [1, t, 51, 53, s, *unit_ids]
    assert story_sequence(text, text, vocabulary, words) == [1, t, 51, 53, 50, 51, 53]            # one run of text: one marker


def test_every_direction_of_cross_modal_storycloze_is_scored(tmp_path):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from slamming.evaluation.cross_modal import DIRECTIONS, cross_modal_items, score_cross_modal

    for n in (1, 2, 3):
        for part in ("mutual", "correct", "incorrect"):
            (tmp_path / f"{n}_{part}.wav").write_bytes(b"")
            (tmp_path / f"{n}_{part}.txt").write_text(f"the {part} part\n")
    items, missing = cross_modal_items(tmp_path)
    assert len(items) == 3 and not missing
    units = {item[f"{part}_wav"]: np.arange(5) + k for item in items for k, part in enumerate(("mutual", "correct", "incorrect"))}
    vocabulary = SpeechVocabulary.with_text(SpeechVocabulary(tokeniser="t", num_units=10, frame_rate=25.0), 64, 1, 0)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=vocabulary.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1)).eval()
    rows, summary = score_cross_modal(model, vocabulary, lambda text: [2 + ord(c) % 60 for c in text], items, units, 4096, "cpu")
    assert set(summary) == set(DIRECTIONS) and all(s["pairs"] == 3 for s in summary.values())
    assert len(rows) == 12 and {r["direction"] for r in rows} == set(DIRECTIONS)
    assert all(0.0 <= s["accuracy"] <= 1.0 and s["accuracy_ci95"] for s in summary.values())


# --- the large vocabulary's loss -------------------------------------------------------------------

def test_the_loss_from_hidden_states_and_the_output_layer_is_the_loss_over_the_logits():
    """What Liger's fused kernel computes on a GPU, by a plain stand-in with its signature: the same summed loss,
    so that the fused path changes memory, not training. On a CPU, or without liger-kernel, the plain loss is used."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from slamming.training.attention import IGNORE
    from slamming.training.pretraining import fused_loss_kernel, fused_token_losses, token_losses

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False))
    input_ids = torch.randint(0, 300, (2, 12))
    labels = input_ids.clone()
    labels[1, :3] = IGNORE
    inputs = {"input_ids": input_ids}
    plain, _ = token_losses(model(**inputs, use_cache=False).logits, labels)

    def stand_in(weight, hidden, targets):
        return torch.nn.functional.cross_entropy(hidden @ weight.T, targets, ignore_index=IGNORE, reduction="sum")

    fused = fused_token_losses(model, inputs, labels, stand_in)
    assert fused.item() == pytest.approx(plain.item(), rel=1e-5)
    fused.backward()
    assert model.get_output_embeddings().weight.grad is not None and model.model.embed_tokens.weight.grad is not None
    assert fused_loss_kernel("auto", "cpu") is None and fused_loss_kernel("off", "cuda") is None


# --- generation from text ------------------------------------------------------------------------

def test_a_text_prompt_is_continued_in_speech_only(small_world):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from slamming.evaluation.generation import sample_continuations
    from slamming.logs import StageError
    from workflow_scripts.generate import text_prompts

    vocabulary = SpeechVocabulary.load(small_world / "vocabulary.json")
    pairs = [{"positive_id": "a", "positive_text": "Tom is a kind goat who hides near the pond."},
             {"positive_id": "b", "positive_text": "Mia went to the school."}]
    texts, prefixes = text_prompts(pairs, vocabulary, 4, str(small_world / "text_lm"), "pairs.parquet")
    assert texts == ["Tom is a kind", "Mia went to the"]
    for prefix in prefixes:
        assert prefix[:2] == [vocabulary.bos_id, vocabulary.text_marker] and prefix[-1] == vocabulary.speech_marker
        assert all(t < vocabulary.unit_offset for t in prefix[2:-1])  # the words in the text LM's own ids
    with pytest.raises(StageError, match="pairs.parquet: 1 prompts have no text"):
        text_prompts([*pairs, {"positive_id": "c", "positive_text": None}], vocabulary, 4, str(small_world / "text_lm"), "pairs.parquet")
    with pytest.raises(StageError, match="only an interleaved model"):
        text_prompts(pairs, SpeechVocabulary(tokeniser="t", num_units=50, frame_rate=25.0), 4, str(small_world / "text_lm"), "p")
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=vocabulary.vocab_size, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)).eval()
    settings = {"temperature": 1.0, "top_k": 1000, "repetition_penalty": 1.0, "max_new_tokens": 30}
    continuations = sample_continuations(model, vocabulary, prefixes, settings, 2, 0, "cpu")
    # an untrained model would write text and markers too: only units (and EOS, which ends one) are sampled
    assert all(len(c) > 0 and ((c >= 0) & (c < vocabulary.num_units)).all() for c in continuations)
    # none was dropped: unmasked, about 50 of the 372 tokens are units, and most of the 30 sampled would be text
    assert sum(len(c) for c in continuations) > 24, [len(c) for c in continuations]
