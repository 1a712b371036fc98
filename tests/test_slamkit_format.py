"""The official toolkit's checkpoint format (slamming/training/slamkit_format.py), on a stand-in the test
writes as slamkit's UnitLM saves one: model_type speech_language_model, base_config nested, weights under lm."""
import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, Qwen2Config

from slamming.training.slamkit_format import NotSlamkitFormat, convert_slamkit_checkpoint
from slamming.training.speech_lm import load_vocabulary

UNITS = 500


def write_slamkit_checkpoint(folder, tie: bool = True):
    base = Qwen2Config(vocab_size=UNITS + 2, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=tie,
                       pad_token_id=0, bos_token_id=1, eos_token_id=1)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(base)
    folder.mkdir()
    state = {f"lm.{name}": tensor.contiguous() for name, tensor in model.state_dict().items()
             if not (tie and name == "lm_head.weight")}
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({
        "model_type": "speech_language_model", "architectures": ["UnitLM"], "base_model_name": "Qwen/Qwen2.5-0.5B",
        "base_config": {**base.to_dict(), "architectures": ["Qwen2ForCausalLM"]}, "vocab_size": UNITS + 2,
        "twist_init": True, "tie_word_embeddings": tie, "torch_dtype": "float32"}))
    return model


@pytest.mark.parametrize("tie", [True, False])
def test_a_slamkit_checkpoint_becomes_a_causal_lm_that_scores_the_same(tmp_path, tie):
    original = write_slamkit_checkpoint(tmp_path / "slam", tie).eval()
    vocabulary = convert_slamkit_checkpoint(tmp_path / "slam", tmp_path / "converted", "mhubert25hz_km500")
    assert vocabulary["num_units"] == UNITS and vocabulary["vocab_size"] == UNITS + 2
    converted = AutoModelForCausalLM.from_pretrained(tmp_path / "converted").eval()
    tokens = torch.tensor([[1, *range(2, 40), 1]])
    with torch.no_grad():
        assert torch.equal(original(tokens).logits, converted(tokens).logits)
    assert load_vocabulary(tmp_path / "converted").tokeniser == "mhubert25hz_km500"
    assert converted.config.pad_token_id == 0 and converted.config.bos_token_id == converted.config.eos_token_id == 1


def test_other_folders_are_refused_in_one_line(tmp_path):
    write_slamkit_checkpoint(tmp_path / "slam")
    (tmp_path / "slam" / "model.safetensors").rename(tmp_path / "slam" / "pytorch_model.bin")
    with pytest.raises(NotSlamkitFormat, match="no .safetensors weights"):
        convert_slamkit_checkpoint(tmp_path / "slam", tmp_path / "out", "t")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(NotSlamkitFormat, match="not a slamkit checkpoint"):
        convert_slamkit_checkpoint(tmp_path / "hf", tmp_path / "out", "t")
