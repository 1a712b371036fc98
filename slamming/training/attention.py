"""Attention kept inside each document of packed windows, with PyTorch's own kernels.

A packed window holds several documents; a token must attend only to the earlier tokens of its own
document. Five ways to compute that, chosen by ``attention`` (a pretraining setting; ``auto`` takes
the first that the machine has; on a CPU ``sdpa_documents`` for long rows, ``sdpa_mask`` for short):

* ``flash_attention_2``: the flash-attn package's varlen kernels, when it is installed (a source build
  most users do not have); Hugging Face finds the documents from the position ids;
* ``varlen``: ``torch.nn.attention.varlen.varlen_attn``, PyTorch's own flash-attention varlen kernel,
  on a GPU, where the installed torch takes grouped-query attention (``enable_gqa``, torch 2.12 and
  later): the documents as cumulative lengths, no square of scores at all;
* ``flex``: FlexAttention with a document-causal block mask built once per batch: blocks that lie
  outside every document are skipped, and grouped-query attention shares each key/value head among
  its query heads instead of repeating it (Qwen2.5-0.5B: 14 query heads, 2 key/value heads);
* ``sdpa_mask``: scaled dot-product attention over a dense (batch, 1, context, context) mask - the
  reference. It computes the whole square and repeats key/value heads.
* ``sdpa_documents``: causal scaled dot-product attention document by document (each run of a segment
  in a row, split out of the batch as views), key/value heads shared: what a document attends to and
  nothing else, ``sum(n^2) / 2`` pairs instead of the row's whole square. The path on a CPU, where
  a packed row of the official packing (``pretraining.PackedChunks``: a micro-batch's 8 chunks of
  ~145 tokens in one row of ~1,280) would otherwise cost the dense mask's 1,280^2 pairs, ~20 times
  the documents' own: the demo's pretraining ran 8 times slower than on windows. A Python loop over
  the documents of a micro-batch is a few dozen small calls, nothing beside that on a CPU; on a GPU
  the kernels above do the same without one, so it is not ``auto``'s choice there. Nor on a CPU for
  short rows (``DOCUMENTS_FROM_ROW``), whose whole square costs less than the calls.

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

PATHS = ("flash_attention_2", "varlen", "flex", "sdpa_mask", "sdpa_documents")

# On a CPU, ``auto`` takes ``sdpa_documents`` for rows of at least this many tokens, ``sdpa_mask`` for
# shorter. The demo's model (hidden 128, 4 layers) on 2 cores, tokens per second, A B A B
# (python -m benchmarking.training): the speech LM's rows of 8 chunks (~1,200 tokens, official packing)
# ~8,500 against ~4,000 with the mask; windows of 512 ~8,500 against ~6,800; but the text LM's windows
# of 128 ~8,500 against ~9,500 (a square of 128^2 is cheaper than a call per document).
DOCUMENTS_FROM_ROW = 512
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


def choose(setting: str, device: torch.device, model_type: str, row: int | None = None) -> str:
    """The path of an ``attention`` setting: ``auto`` is the fastest this machine has. On a CPU that is
    document by document for rows (``row``: the longest a batch's rows can be) of ``DOCUMENTS_FROM_ROW``
    tokens or more, where the dense mask would compute the whole square of a packed row, and the dense
    mask for shorter rows (FlexAttention there is a slow, unfused fallback)."""
    if setting == "auto":
        if device.type != "cuda":
            return "sdpa_documents" if row is not None and row >= DOCUMENTS_FROM_ROW else "sdpa_mask"
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
            "sdpa_mask": "sdpa", "sdpa_documents": "document_sdpa"}[path]


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


def documents_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, document_runs=None, **kwargs):
    """Causal scaled dot-product attention over each document of the batch alone: the batch's rows end
    to end, cut into the runs of ``document_runs`` (their lengths, which add up to batch x length)."""
    batch, heads, length, dim = query.shape

    def flat(x):  # (batch, heads, length, dim) -> (1, heads, batch * length, dim); a view for one row
        return x if batch == 1 else x.transpose(0, 1).reshape(1, x.shape[1], batch * length, dim)

    gqa = heads != key.shape[1]
    pieces = [torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True, scale=scaling,
                                                                enable_gqa=gqa)
              for q, k, v in zip(*(flat(x).split(document_runs, dim=2) for x in (query, key, value)))]
    output = torch.cat(pieces, dim=2)  # (1, heads, batch * length, dim)
    return output.view(heads, batch, length, dim).permute(1, 2, 0, 3), None


@functools.cache
def register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register("document_flex", flex_forward)
    AttentionInterface.register("document_varlen", varlen_forward)
    AttentionInterface.register("document_sdpa", documents_forward)


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
        if self.path in ("varlen", "sdpa_documents"):  # each run of a segment in a row: a sequence of the flattened batch
            runs = starts.reshape(-1).clone()
            runs[::context] = True
            lengths = torch.diff(runs.nonzero().flatten(), append=torch.tensor([batch * context]))
            if self.path == "varlen":
                inputs["document_lengths"] = torch.cat([torch.zeros(1, dtype=torch.int32), lengths.cumsum(0).to(torch.int32)])
                inputs["longest_document"] = int(lengths.max())
            else:  # split sizes, on the host
                inputs["document_runs"] = lengths.tolist()
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
