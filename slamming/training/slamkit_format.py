"""The official toolkit's checkpoints (slp-rl/slamkit; the released slprl/slam and slprl/slam_scaled) as
speech LMs of this workflow.

slamkit saves its ``UnitLM`` with ``model_type: speech_language_model``: the base LM's whole config nested
under ``base_config`` (with ``base_model_name``), the vocabulary size beside it, and every weight under the
prefix ``lm.``, so ``AutoModelForCausalLM`` cannot load it. Its vocabulary is ours (pad 0, BOS = EOS 1, unit
``u`` at ``u + 2``), so converting is a rename: the base config with the vocabulary, the weights without
the prefix, and the speech vocabulary beside them, as ``save_speech_lm`` writes a model trained here.

Weights are read from safetensors only: a pickled ``pytorch_model.bin`` would run code when opened.
"""

from __future__ import annotations

import json
from pathlib import Path

from slamming.units.vocabulary import SpeechVocabulary

MODEL_TYPE = "speech_language_model"
PREFIX = "lm."


class NotSlamkitFormat(ValueError):
    """A folder that is not a slamkit checkpoint this converter can read."""


def read_slamkit_config(folder: str | Path) -> dict:
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise NotSlamkitFormat(f"{path}: cannot be read as a slamkit config ({error})") from None
    if config.get("model_type") != MODEL_TYPE or not isinstance(config.get("base_config"), dict):
        raise NotSlamkitFormat(f"{path}: model_type {config.get('model_type')!r} with no base_config is not a slamkit "
                               f"checkpoint (expected model_type {MODEL_TYPE!r} and a nested base_config)")
    return config


def convert_slamkit_checkpoint(folder: str | Path, out: str | Path, tokeniser: str, frame_rate: float = 25.0) -> dict:
    """Write ``out`` as a Hugging Face causal LM folder (config.json, model.safetensors, generation_config.json)
    with ``speech_vocabulary.json``; returns the speech vocabulary written. ``tokeniser`` names the units the
    model was trained on (the paper's: mhubert25hz_km500)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    from slamming.training.speech_lm import save_speech_lm, speech_config

    folder = Path(folder)
    config = read_slamkit_config(folder)
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise NotSlamkitFormat(f"{folder}: no .safetensors weights (a pickled pytorch_model.bin is not opened: it could run "
                               "code); convert it to safetensors where you trust it")
    base = dict(config["base_config"])
    base_config = AutoConfig.for_model(base.pop("model_type"), **{k: v for k, v in base.items()
                                                                   if k not in ("architectures", "torch_dtype", "dtype")})
    units = int(config["vocab_size"]) - 2
    vocabulary = SpeechVocabulary(tokeniser=tokeniser, num_units=units, frame_rate=frame_rate)
    speech = speech_config(base_config, vocabulary, rope_theta=None, dropout=None)
    weights = {}
    for shard in shards:
        for name, tensor in load_file(shard).items():
            if not name.startswith(PREFIX):
                raise NotSlamkitFormat(f"{shard}: weight {name!r} lacks slamkit's {PREFIX!r} prefix")
            weights[name[len(PREFIX):]] = tensor
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(speech)
    missing, unexpected = model.load_state_dict(weights, strict=False, assign=True)
    tied = {"lm_head.weight"} if speech.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise NotSlamkitFormat(f"{folder}: weights do not match {base_config.model_type}: missing {sorted(set(missing) - tied)[:5]}, "
                               f"unexpected {sorted(unexpected)[:5]}")
    if tied:
        model.tie_weights()
    model.generation_config.pad_token_id, model.generation_config.bos_token_id, model.generation_config.eos_token_id = (
        vocabulary.pad_id, vocabulary.bos_id, vocabulary.eos_id)
    save_speech_lm(model, vocabulary, out)
    return {**vocabulary.__dict__, "vocab_size": vocabulary.vocab_size}
