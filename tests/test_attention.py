"""Attention inside documents: every path PyTorch offers gives the loss of the reference path (a dense
mask) on the same batch - on the CPU for the paths that run there - and a packed window trains like
its documents one by one."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, GPTNeoXConfig, LlamaConfig, OPTConfig, Qwen2Config

from slamming.training.attention import DocumentAttention, available, choose, implementation
from slamming.training.pretraining import token_losses


# The families of the paper's studies: Qwen2.5, OPT, SmolLM2 (llama) and Pythia (gpt_neox).
MODEL_TYPES = ["qwen2", "opt", "llama", "gpt_neox"]


def tiny_model(model_type: str, attention: str):
    if model_type == "qwen2":  # grouped-query attention: 4 query heads share 2 key/value heads
        config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, tie_word_embeddings=True)
    elif model_type == "llama":  # SmolLM2's architecture
        config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, tie_word_embeddings=True)
    elif model_type == "gpt_neox":  # Pythia's: parallel attention and MLP, rotary on a quarter of each head
        config = GPTNeoXConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                               rotary_pct=0.25, max_position_embeddings=256, attention_dropout=0.0, hidden_dropout=0.0)
    else:
        config = OPTConfig(vocab_size=64, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                           word_embed_proj_dim=32, max_position_embeddings=256, dropout=0.0, attention_dropout=0.0)
    config._attn_implementation = attention
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation=attention).eval()


def packed_batch(context: int = 128, rows: int = 3, seed: int = 0):
    """Rows of documents of random lengths laid end to end, the last one padded."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, 64, (rows, context), generator=g)
    segments = torch.zeros(rows, context, dtype=torch.long)
    for row in range(rows):
        position, segment = 0, 0
        while position < context - 10:
            length = int(torch.randint(5, 60, (1,), generator=g))
            segment += 1
            segments[row, position:position + length] = segment
            tokens[row, position] = 1  # BOS
            position += length
        segments[row, position:] = 0  # padding
        tokens[row, position:] = 0
    return tokens, segments[:, :context]


def loss_on(path: str, model_type: str, tokens, segments) -> tuple[float, torch.Tensor]:
    model = tiny_model(model_type, implementation(path))
    attention = DocumentAttention(path)
    batch = attention.host(tokens, segments)
    with torch.no_grad():
        logits = model(**attention.inputs(batch), use_cache=False).logits
    loss, count = token_losses(logits, batch["labels"])
    return float(loss / count), logits


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("path", ["sdpa_documents", "flex", "varlen", "flash_attention_2"])
def test_every_path_gives_the_reference_loss(path, model_type):
    if not available(path, torch.device("cuda" if torch.cuda.is_available() else "cpu"), model_type):
        pytest.skip(f"{path} does not run on this machine ({'CUDA' if torch.cuda.is_available() else 'CPU only'}, "
                    f"torch {torch.__version__})")
    tokens, segments = packed_batch()
    reference, reference_logits = loss_on("sdpa_mask", model_type, tokens, segments)
    loss, logits = loss_on(path, model_type, tokens, segments)
    assert loss == pytest.approx(reference, rel=1e-5)
    real = segments > 0
    torch.testing.assert_close(logits[real], reference_logits[real], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_a_packed_window_gives_each_document_what_it_gets_alone(model_type):
    model = tiny_model(model_type, "sdpa")
    a, b = torch.tensor([[1, 5, 6, 7, 8, 1]]), torch.tensor([[1, 9, 10, 1]])
    tokens = torch.cat([a, b, torch.zeros(1, 2, dtype=torch.long)], dim=1)
    segments = torch.tensor([[1] * 6 + [2] * 4 + [0] * 2])
    attention = DocumentAttention("sdpa_mask")
    batch = attention.host(tokens, segments)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 1]]
    assert batch["labels"].tolist() == [[-100, 5, 6, 7, 8, 1, -100, 9, 10, 1, -100, -100]]
    with torch.no_grad():
        packed = model(**attention.inputs(batch), use_cache=False).logits
        alone_a, alone_b = model(a, use_cache=False).logits, model(b, use_cache=False).logits
    torch.testing.assert_close(packed[:, :6], alone_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed[:, 6:10], alone_b, atol=1e-5, rtol=1e-5)
    _, count = token_losses(packed, batch["labels"])
    assert count == 5 + 3  # every token but each document's first is predicted, padding is not


def test_the_flex_block_mask_skips_what_lies_outside_every_document():
    from slamming.training.attention import block_mask

    _, segments = packed_batch(context=1024, rows=2)
    mask = block_mask(segments)
    dense_blocks = (1024 // 128) ** 2
    assert mask.kv_num_blocks.sum().item() < 0.6 * 2 * dense_blocks  # far from the whole square


def loss_and_gradients(path: str, model_type: str, tokens, segments) -> tuple[float, dict[str, torch.Tensor]]:
    """The mean token loss of a training step's forward and the gradients of its backward."""
    model = tiny_model(model_type, implementation(path)).train()
    attention = DocumentAttention(path)
    batch = attention.host(tokens, segments)
    loss, count = token_losses(model(**attention.inputs(batch), use_cache=False).logits, batch["labels"])
    mean = loss / count
    mean.backward()
    return mean.item(), {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("rows", [1, 3])  # one row: a micro-batch of the official packing's chunks; several: windows
def test_the_cpu_path_trains_as_the_reference(rows, model_type):
    """``sdpa_documents`` (auto's choice on a CPU) gives the dense mask's loss and gradients on a packed batch."""
    cpu = torch.device("cpu")  # auto: long rows document by document, short ones (the whole square is cheap) the mask
    assert choose("auto", cpu, model_type, row=8 * 512) == choose("auto", cpu, model_type, row=512) == "sdpa_documents"
    assert choose("auto", cpu, model_type, row=128) == choose("auto", cpu, model_type) == "sdpa_mask"
    tokens, segments = packed_batch(context=128 * 5 if rows == 1 else 128, rows=rows, seed=1)
    reference, reference_gradients = loss_and_gradients("sdpa_mask", model_type, tokens, segments)
    loss, gradients = loss_and_gradients("sdpa_documents", model_type, tokens, segments)
    assert loss == pytest.approx(reference, rel=1e-5)
    assert gradients.keys() == reference_gradients.keys()
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradient, reference_gradients[name], atol=1e-5, rtol=1e-4, msg=name)
