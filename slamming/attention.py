"""Attention kept inside each document of packed windows, with PyTorch's own kernels.

A packed window holds several documents; a token must attend only to the earlier tokens of its own
document. Four ways to compute that, chosen by ``attention`` (a pretraining setting; ``auto`` takes
the first that the machine has):

* ``flash_attention_2``: the flash-attn package's varlen kernels, when it is installed (a source build
  most users do not have); Hugging Face finds the documents from the position ids;
* ``varlen``: ``torch.nn.attention.varlen.varlen_attn``, PyTorch's own flash-attention varlen kernel,
  on a GPU, where the installed torch takes grouped-query attention (``enable_gqa``, torch 2.12 and
  later): the documents as cumulative lengths, no square of scores at all;
* ``flex``: FlexAttention with a document-causal block mask built once per batch: blocks that lie
  outside every document are skipped, and grouped-query attention shares each key/value head among
  its query heads instead of repeating it (Qwen2.5-0.5B: 14 query heads, 2 key/value heads);
* ``sdpa_mask``: scaled dot-product attention over a dense (batch, 1, context, context) mask - the
  reference, and the path on a CPU. It computes the whole square and repeats key/value heads.

Every path gives the reference path's loss on the same batch (tests/test_attention.py, on the CPU for
the paths that run there). The model is loaded with ``attn_implementation`` of the path
(``implementation``), and each batch gets the path's inputs (``DocumentAttention.inputs``).
"""

from __future__ import annotations

import functools
import importlib.util
import inspect

import torch

from slamming.logs import StageError

PATHS = ("flash_attention_2", "varlen", "flex", "sdpa_mask")
IGNORE = -100  # label of positions that are not predicted

# Model types whose Hugging Face code turns position ids that restart at 0 into per-document
# attention with the flash-attn kernels.
PACKED_POSITION_IDS = {"qwen2", "qwen3", "llama", "mistral", "gpt_neox"}


def varlen_takes_gqa() -> bool:
    """Whether the installed torch has varlen attention that shares key/value heads (torch 2.12 and later)."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return False
    return "enable_gqa" in inspect.signature(varlen_attn).parameters


def has_flex() -> bool:
    return importlib.util.find_spec("torch.nn.attention.flex_attention") is not None


def available(path: str, device: torch.device, model_type: str) -> bool:
    """Whether ``path`` runs on this machine for this model."""
    if path == "flash_attention_2":
        return device.type == "cuda" and model_type in PACKED_POSITION_IDS and importlib.util.find_spec("flash_attn") is not None
    if path == "varlen":
        return device.type == "cuda" and varlen_takes_gqa()
    if path == "flex":
        return has_flex()
    return True


def choose(setting: str, device: torch.device, model_type: str) -> str:
    """The path of an ``attention`` setting: ``auto`` is the fastest this machine has (on a CPU, the
    dense mask: FlexAttention there is a slow, unfused fallback)."""
    if setting == "auto":
        if device.type != "cuda":
            return "sdpa_mask"
        return next(path for path in PATHS if available(path, device, model_type))
    if setting not in PATHS:
        raise StageError(f"attention: {setting!r} is not one of auto, {', '.join(PATHS)}")
    if not available(setting, device, model_type):
        raise StageError(f"attention: {setting} does not run here (device {device.type}, model {model_type}, torch "
                         f"{torch.__version__}); use attention: auto")
    return setting


def implementation(path: str) -> str:
    """The ``attn_implementation`` a model is loaded with for ``path``."""
    register()
    return {"flash_attention_2": "flash_attention_2", "varlen": "document_varlen", "flex": "document_flex",
            "sdpa_mask": "sdpa"}[path]


# --- the attention functions Hugging Face calls for the two paths of our own --------------------

@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False) if torch.cuda.is_available() else flex_attention


def flex_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """FlexAttention under the block mask of the batch (``attention_mask``), key/value heads shared."""
    output = _compiled_flex()(query, key, value, block_mask=attention_mask, scale=scaling,
                              enable_gqa=query.shape[1] != key.shape[1])
    return output.transpose(1, 2).contiguous(), None


def varlen_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, document_lengths=None,
                   longest_document=None, **kwargs):
    """PyTorch's varlen kernel over the documents of the batch, laid end to end."""
    from torch.nn.attention.varlen import varlen_attn

    batch, heads, length, dim = query.shape

    def flat(x):  # (batch, heads, length, dim) -> (batch * length, heads, dim)
        return x.transpose(1, 2).reshape(batch * length, x.shape[1], dim)

    output = varlen_attn(flat(query), flat(key), flat(value), document_lengths, document_lengths, longest_document,
                         longest_document, scale=scaling, window_size=(-1, 0), enable_gqa=heads != key.shape[1])
    return output.reshape(batch, length, heads, dim), None


@functools.cache
def register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register("document_flex", flex_forward)
    AttentionInterface.register("document_varlen", varlen_forward)


# --- each batch's inputs --------------------------------------------------------------------------

class DocumentAttention:
    """Model inputs for a batch of packed windows on one path: positions that restart at each document,
    labels that never predict a document's first token from the one before, and what the path needs
    to keep attention inside documents. What comes from the segments alone is made on the host
    (``host``, in the loader's thread, ahead of the step); the masks on the device (``inputs``)."""

    def __init__(self, path: str, mask_dtype: torch.dtype = torch.float32):
        self.path, self.mask_dtype = path, mask_dtype

    def host(self, tokens: torch.Tensor, segments: torch.Tensor) -> dict:
        batch, context = tokens.shape
        arange = torch.arange(context).expand(batch, -1)
        starts = torch.ones_like(segments, dtype=torch.bool)
        starts[:, 1:] = segments[:, 1:] != segments[:, :-1]
        first = torch.cummax(torch.where(starts, arange, torch.zeros_like(arange)), dim=1).values
        inputs = {"input_ids": tokens, "segments": segments, "position_ids": arange - first,
                  "labels": tokens.masked_fill(starts | (segments == 0), IGNORE)}
        if self.path == "varlen":  # each run of a segment in a row is a sequence of the flattened batch
            runs = starts.reshape(-1).clone()
            runs[::context] = True
            lengths = torch.diff(torch.flatnonzero(runs), append=torch.tensor([batch * context]))
            inputs["document_lengths"] = torch.cat([torch.zeros(1, dtype=torch.int32), lengths.cumsum(0).to(torch.int32)])
            inputs["longest_document"] = int(lengths.max())
        return inputs

    def inputs(self, batch: dict) -> dict:
        """The model's keyword arguments from a host batch moved to the device (labels kept apart)."""
        inputs = {k: v for k, v in batch.items() if k not in ("segments", "labels")}
        segments, context = batch["segments"], batch["segments"].shape[1]
        if self.path == "sdpa_mask":
            same = segments[:, :, None] == segments[:, None, :]
            causal = torch.ones(context, context, dtype=torch.bool, device=segments.device).tril()
            inputs["attention_mask"] = torch.zeros(len(segments), 1, context, context, dtype=self.mask_dtype,
                                                   device=segments.device).masked_fill(~(same & causal)[:, None],
                                                                                       torch.finfo(self.mask_dtype).min)
        elif self.path == "flex":
            inputs["attention_mask"] = block_mask(segments)
        return inputs


def block_mask(segments: torch.Tensor):
    """FlexAttention's block mask of a batch: causal, inside each segment (padding, segment 0, attends
    among itself, so that no row is empty; its labels are ignored)."""
    from torch.nn.attention.flex_attention import create_block_mask

    def same_document(b, h, q, kv):
        return (segments[b, q] == segments[b, kv]) & (q >= kv)

    batch, context = segments.shape
    return create_block_mask(same_document, batch, None, context, context, device=segments.device)
