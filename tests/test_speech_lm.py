"""Speech-LM initialisation: the paper's parameter counts, TWIST init, RoPE theta, dropout."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, GPTNeoXConfig, LlamaConfig, OPTConfig, Qwen2Config

from slamming.training.speech_lm import build_speech_lm, count_parameters, load_vocabulary, save_speech_lm, speech_config
from slamming.units.vocabulary import SpeechVocabulary

PAPER_VOCABULARY = SpeechVocabulary(tokeniser="mhubert25hz_km500", num_units=500, frame_rate=25.0)

# The published config.json of each model (the fields that set its size), written here because the
# tests have no network; the counts are the paper's Table 7.
PUBLISHED = {
    "Qwen2.5-0.5B": (Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                                 rope_theta=1000000.0, tie_word_embeddings=True), 358_347_904),
    "OPT-125M": (OPTConfig(vocab_size=50272, hidden_size=768, num_hidden_layers=12, ffn_dim=3072, num_attention_heads=12,
                           max_position_embeddings=2048, word_embed_proj_dim=768, do_layer_norm_before=True), 87_015_936),
    "Pythia-160M": (GPTNeoXConfig(vocab_size=50304, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                  intermediate_size=3072, max_position_embeddings=2048, rotary_pct=0.25,
                                  use_parallel_residual=True, tie_word_embeddings=False), 85_827_072),
    "SmolLM2-360M": (LlamaConfig(vocab_size=49152, hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                                 num_attention_heads=15, num_key_value_heads=5, max_position_embeddings=8192,
                                 rope_theta=100000.0, tie_word_embeddings=True), 315_117_120),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_equal_table_7(name):
    config, expected = PUBLISHED[name]
    with torch.device("meta"):  # the architecture only: no memory for weights
        model = AutoModelForCausalLM.from_config(speech_config(config, PAPER_VOCABULARY, rope_theta=None, dropout=0.0))
    assert count_parameters(model) == expected


@pytest.fixture
def text_lm(tmp_path):
    config = Qwen2Config(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=True, attention_dropout=0.1)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(tmp_path / "text_lm")
    return model, tmp_path / "text_lm"


VOCABULARY = SpeechVocabulary(tokeniser="t", num_units=20, frame_rate=25.0)


def test_twist_init_keeps_the_first_embedding_rows_and_every_other_weight(text_lm):
    text, folder = text_lm
    speech = build_speech_lm(folder, VOCABULARY, init="twist", rope_theta=10000, dropout=0.0)
    assert speech.config.vocab_size == 22 and speech.get_input_embeddings().weight.shape == (22, 32)
    assert torch.equal(speech.get_input_embeddings().weight, text.get_input_embeddings().weight[:22])
    assert speech.get_output_embeddings().weight is speech.get_input_embeddings().weight  # tied head
    assert torch.equal(speech.model.layers[1].self_attn.q_proj.weight, text.model.layers[1].self_attn.q_proj.weight)
    assert speech.config.rope_parameters["rope_theta"] == 10000
    assert speech.model.rotary_emb.inv_freq[1] == pytest.approx(10000 ** (-2 / 8))  # rebuilt for the new theta
    assert speech.config.attention_dropout == 0.0


def test_an_interleaved_model_keeps_the_whole_text_vocabulary_and_adds_the_units_and_markers(text_lm, tmp_path):
    """Interleaving (section 4.3): the text LM's 300 ids stay as they were (its tokenizer's 290 ids are
    used, as Qwen2.5 has spare rows), the 20 units start at 290, the markers follow; saved, the
    vocabulary travels with the model."""
    text, folder = text_lm
    vocabulary = SpeechVocabulary.with_text(VOCABULARY, text_vocab_size=290, boundary_id=5, pad_id=5)
    model = build_speech_lm(folder, vocabulary, init="twist", rope_theta=None)
    embedding = model.get_input_embeddings().weight
    assert vocabulary.vocab_size == 312 and embedding.shape == (312, 32) and model.config.vocab_size == 312
    assert torch.equal(embedding[:300], text.get_input_embeddings().weight)  # text rows, and the spare ones reused by units
    assert (embedding[300:] != 0).any(1).all()  # the added rows are drawn, not zero
    assert (model.config.bos_token_id, model.config.eos_token_id) == (5, 5)
    save_speech_lm(model, vocabulary, tmp_path / "speech")
    assert load_vocabulary(tmp_path / "speech") == vocabulary


def test_random_init_and_fresh_embeddings(text_lm):
    text, folder = text_lm
    random = build_speech_lm(folder, VOCABULARY, init="random")
    assert not torch.equal(random.model.layers[0].mlp.up_proj.weight, text.model.layers[0].mlp.up_proj.weight)
    fresh = build_speech_lm(folder, VOCABULARY, init="twist", fresh_embeddings=True)
    assert not torch.equal(fresh.get_input_embeddings().weight, text.get_input_embeddings().weight[:22])
    assert torch.equal(fresh.model.layers[0].mlp.up_proj.weight, text.model.layers[0].mlp.up_proj.weight)


def test_the_saved_folder_is_all_evaluation_needs(text_lm, tmp_path):
    _, folder = text_lm
    save_speech_lm(build_speech_lm(folder, VOCABULARY), VOCABULARY, tmp_path / "speech")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "speech")
    assert model.config.speech_vocabulary["num_units"] == 20 and model.config.speech_vocabulary["frame_rate"] == 25.0
    assert (model.config.pad_token_id, model.config.bos_token_id, model.config.eos_token_id) == (0, 1, 1)
    assert load_vocabulary(tmp_path / "speech") == VOCABULARY
    assert list((tmp_path / "speech").glob("*.safetensors"))


def test_rope_theta_on_a_model_without_rope_is_refused():
    with pytest.raises(ValueError, match="no rotary position embedding"):
        speech_config(PUBLISHED["OPT-125M"][0], VOCABULARY, rope_theta=10000, dropout=0.0)


def test_dropout_reaches_every_dropout_setting():
    config = speech_config(PUBLISHED["OPT-125M"][0], VOCABULARY, rope_theta=None, dropout=0.0)
    assert config.dropout == config.attention_dropout == config.layerdrop == 0.0
    kept = speech_config(PUBLISHED["OPT-125M"][0], VOCABULARY, rope_theta=None, dropout=None)
    assert kept.dropout == PUBLISHED["OPT-125M"][0].dropout
