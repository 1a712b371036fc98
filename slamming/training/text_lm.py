"""The demo's text LM: a byte-level BPE tokenizer and a small Qwen2-architecture model, both trained on
the demo stories.

It stands in for Qwen2.5-0.5B twice: as the text LM the demo's speech LM starts from (TWIST
initialisation), and as the perplexity scorer of the demo's GenPPL. It is trained by the same engine as
the speech LM (``training.train_on_windows``) on the stories packed the same way (``pack.pack``).

Output: a ``save_pretrained`` folder with the model and its tokenizer (``AutoTokenizer`` and
``AutoModelForCausalLM`` load it), and its training log.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from slamming.units.vocabulary import token_dtype

log = logging.getLogger("text_lm")

PAD, BOUNDARY = "<pad>", "<|endoftext|>"  # ids 0 and 1, as in the speech vocabulary


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE: any text can be scored, also words the stories never had (ASR transcripts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOUNDARY],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, bos_token=BOUNDARY, eos_token=BOUNDARY)


def documents_of(texts: list[str], tokenizer):
    """``BOUNDARY text BOUNDARY`` documents, as ``pack.Documents``."""
    from slamming.units.packing import Documents

    boundary = tokenizer.convert_tokens_to_ids(BOUNDARY)
    dtype = token_dtype(len(tokenizer))
    pieces = [np.array([boundary, *tokenizer(text)["input_ids"], boundary], dtype=dtype) for text in texts]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])])
    return Documents(np.concatenate(pieces) if pieces else np.zeros(0, dtype), offsets)


def pack_texts(texts_by_split: dict[str, list[str]], tokenizer, context: int, seed: int, folder: Path) -> None:
    """Packed windows of each split, in the files ``pretrain.train`` reads."""
    from slamming.units.packing import mix_order, pack

    folder.mkdir(parents=True, exist_ok=True)
    for split, texts in texts_by_split.items():
        documents = documents_of(texts, tokenizer)
        windows = max(1, -(-int(documents.offsets[-1]) // context))
        tokens = np.zeros((windows, context), documents.tokens.dtype)
        segments = np.zeros((windows, context), np.uint16)
        continued = np.zeros(windows, bool)
        stats = pack([documents], mix_order([len(documents)], [1.0], seed), context, tokens, segments, continued,
                     tokenizer.pad_token_id)
        np.save(folder / f"{split}_tokens.npy", tokens)
        np.save(folder / f"{split}_segments.npy", segments)
        np.save(folder / f"{split}_continued.npy", continued)
        log.info("%s: %d stories, %d tokens in %d windows (fill %.3f)", split, len(texts), stats["tokens"], windows, stats["fill_ratio"])


def build_model(settings: dict, tokenizer, seed: int):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=settings["hidden_size"], num_hidden_layers=settings["num_hidden_layers"],
        num_attention_heads=settings["num_attention_heads"], num_key_value_heads=settings["num_key_value_heads"],
        intermediate_size=settings["intermediate_size"], max_position_embeddings=settings["context_length"] * 4,
        tie_word_embeddings=True, rope_theta=10000.0, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def train_text_lm(texts: dict[str, list[str]], settings: dict, seed: int, out: Path, log, **engine_options) -> dict:
    """Tokenizer, model and training on ``texts`` ({"train": [...], "valid": [...]}); saved to ``out``."""
    from slamming.training.pretraining import train_on_windows

    work = out.with_name(out.name + ".work")
    tokenizer = train_tokenizer(texts["train"], settings["vocab_size"])
    model = build_model(settings, tokenizer, seed)
    init = work / "init"
    model.save_pretrained(init, safe_serialization=True)
    tokenizer.save_pretrained(init)
    pack_texts(texts, tokenizer, settings["context_length"], seed, work / "windows")
    # Its documents are packed into full windows here (pack_texts), and attention is the engine's choice.
    training = {**settings["train"], "context_length": settings["context_length"], "packing": "windows", "attention": "auto",
                "fused_loss": "off"}
    summary = train_on_windows(init, work / "windows", training, seed, out, work, log, **engine_options)
    shutil.rmtree(work / "windows")
    return summary
