"""Make a speech LM from a text LM: TWIST initialisation (or random), the speech vocabulary, the recipe's
RoPE theta and dropout.

From any Hugging Face causal-LM folder (Qwen2.5, OPT, Pythia, SmolLM2, Llama-style MobileLLM ...):

* the text vocabulary becomes the speech vocabulary (units + pad + BOS/EOS, see ``units.py``) the way
  the paper does it: the first rows of the text embedding (and of an untied output head) are kept,
  the rest dropped; ``fresh_embeddings`` initialises them afresh instead; for an interleaved model
  (``SpeechVocabulary.with_text``) the whole text vocabulary is kept and the units and markers added;
* ``rope_theta`` replaces the base model's RoPE theta (the paper uses 10000 for a 1024 context);
* every dropout probability is set to ``dropout`` (0 in the Slam recipe);
* ``init: random`` keeps only the architecture (no TWIST).

The result is a ``save_pretrained`` folder that loads with ``AutoModelForCausalLM`` and nothing else:
its config carries the speech vocabulary (``speech_vocabulary``: tokeniser, units, frame rate,
special ids), also written beside it as ``speech_vocabulary.json``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import torch

from slamming.units.vocabulary import SpeechVocabulary

log = logging.getLogger("speech_lm")

VOCABULARY_FILE = "speech_vocabulary.json"


def speech_config(base_config, vocabulary: SpeechVocabulary, rope_theta: float | None, dropout: float | None):
    """The base model's config with the speech vocabulary, RoPE theta and dropout of the recipe."""
    config = base_config.__class__.from_dict(base_config.to_dict())
    config.vocab_size = vocabulary.vocab_size
    config.pad_token_id, config.bos_token_id, config.eos_token_id = vocabulary.pad_id, vocabulary.bos_id, vocabulary.eos_id
    if getattr(config, "decoder_start_token_id", None) is not None:
        config.decoder_start_token_id = vocabulary.bos_id
    if rope_theta is not None:
        rope = getattr(config, "rope_parameters", None)
        if not isinstance(rope, dict):
            raise ValueError(f"{config.model_type} has no rotary position embedding: set rope_theta to null for it")
        config.rope_parameters = {**rope, "rope_theta": float(rope_theta)}
    if dropout is not None:
        for key, value in config.to_dict().items():
            if isinstance(value, float) and ("dropout" in key or key.endswith("pdrop") or key == "layerdrop") \
                    and key != "classifier_dropout":
                setattr(config, key, float(dropout))
    config.use_cache = True
    config.speech_vocabulary = {**asdict(vocabulary), "vocab_size": vocabulary.vocab_size}
    return config


def build_speech_lm(base: str | Path, vocabulary: SpeechVocabulary, init: str = "twist",
                    rope_theta: float | None = None, dropout: float | None = 0.0, fresh_embeddings: bool = False,
                    seed: int = 0):
    """The speech LM in float32, on the CPU."""
    from transformers import AutoConfig, AutoModelForCausalLM

    base_config = AutoConfig.from_pretrained(base)
    config = speech_config(base_config, vocabulary, rope_theta, dropout)
    torch.manual_seed(seed)
    if init == "random":
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # The text LM's weights in the recipe's architecture (RoPE theta, dropout), its text vocabulary
    # still whole; then the vocabulary is cut: the first rows of the embedding are kept.
    text_config = config.__class__.from_dict({**config.to_dict(), "vocab_size": base_config.vocab_size})
    model = AutoModelForCausalLM.from_pretrained(base, config=text_config, dtype=torch.float32)
    text_vocab = model.get_input_embeddings().weight.shape[0]
    if vocabulary.interleaved:
        # Interleaving keeps the whole text vocabulary: the units and markers are rows added after it,
        # drawn as Hugging Face draws added tokens (around the mean of the text embeddings), as the
        # official code's resize_token_embeddings does.
        if vocabulary.unit_offset > text_vocab:
            raise ValueError(f"{base}: its embedding has {text_vocab} rows, fewer than the {vocabulary.unit_offset} text ids "
                             "the vocabulary puts before the units")
        model.resize_token_embeddings(vocabulary.vocab_size, mean_resizing=True)
    elif text_vocab < vocabulary.vocab_size:
        raise ValueError(f"{base}: a text vocabulary of {text_vocab} is smaller than the speech vocabulary {vocabulary.vocab_size}")
    else:
        model.resize_token_embeddings(vocabulary.vocab_size, mean_resizing=False)
    if fresh_embeddings and not vocabulary.interleaved:
        model.get_input_embeddings().reset_parameters()
        if not model.config.tie_word_embeddings:
            model.get_output_embeddings().reset_parameters()
    model.config = _with_vocabulary(model.config, config)
    model.generation_config.pad_token_id = vocabulary.pad_id
    model.generation_config.bos_token_id = vocabulary.bos_id
    model.generation_config.eos_token_id = vocabulary.eos_id
    return model


def _with_vocabulary(model_config, config):
    for key in ("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id", "speech_vocabulary", "use_cache"):
        setattr(model_config, key, getattr(config, key))
    return model_config


def count_parameters(model) -> int:
    """Distinct parameters: a tied head is counted once, as the paper's Table 7 does."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def save_speech_lm(model, vocabulary: SpeechVocabulary, out: str | Path) -> None:
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    vocabulary.save(out / VOCABULARY_FILE)


def load_vocabulary(model_dir: str | Path) -> SpeechVocabulary:
    return SpeechVocabulary.load(Path(model_dir) / VOCABULARY_FILE)
