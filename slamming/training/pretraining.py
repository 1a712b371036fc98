"""Pretraining on packed data, for the engine: memory-mapped batches, the next-token loss over a
step's predicted tokens, attention kept inside each document (``attention.py``), FLOPs for MFU, the
validation loss. What the speech LM's pretraining and the demo's text LM both run (``train_on_windows``).

The data comes packed one of two ways (``packing``, see ``packing.py``), behind one interface
(``batch``, ``step_size``, ``computed``), so that the task and the engine do not branch:

* ``windows`` (``PackedWindows``): an item is a full window of the context length; a micro-batch is
  ``per_device_batch_size`` windows, one row each.
* ``official`` (``PackedChunks``): an item is a chunk of a document, as the official code's; a
  micro-batch is ``per_device_batch_size`` chunks laid end to end in ONE row, a segment each, as the
  official code's collator (``DataCollatorWithFlattening``) lays them; the loss's normaliser, the
  tokens of the budget and the FLOPs count the real tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from slamming.artifacts import check_file_records, load_npy, read_json, unreadable
from slamming.training.attention import IGNORE, DocumentAttention, choose, implementation

# --- batches from packed windows -------------------------------------------------------------

class PackedWindows:
    """The packed windows of one split, memory-mapped (see pack.py)."""

    def __init__(self, folder: str | Path, split: str):
        folder = Path(folder)
        self.tokens = load_npy(folder / f"{split}_tokens.npy", mmap_mode="r")
        self.segments = load_npy(folder / f"{split}_segments.npy", mmap_mode="r")
        if self.tokens.shape != self.segments.shape:
            raise unreadable(folder / f"{split}_segments.npy", ValueError(f"its shape {self.segments.shape} is not its tokens' "
                                                                         f"{self.tokens.shape}"))

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def context(self) -> int:
        return self.tokens.shape[1]

    def real_tokens(self) -> int:
        return int((np.asarray(self.segments) > 0).sum())

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens and segments, one row per window."""
        indices = np.sort(np.asarray(indices))  # memory-map reads in file order
        return (torch.from_numpy(self.tokens[indices].astype(np.int64)),
                torch.from_numpy(self.segments[indices].astype(np.int64)))

    def step_size(self, indices: np.ndarray) -> tuple[int, int]:
        """The predicted tokens of these windows (the loss's normaliser) and their tokens, padding included."""
        return predicted_tokens(self.segments[np.sort(indices)]), len(indices) * self.context

    def computed(self, indices: np.ndarray) -> tuple[int, int]:
        """What a step over these windows computes: tokens (padding included) and attended pairs."""
        segments = self.segments[np.sort(indices)]
        return segments.size, attended_pairs(segments)


# Rows of chunks are padded at the end to a multiple of this: FlexAttention's block size, a multiple of
# every kernel's tile. It keeps the row lengths to a few shapes (at most batch x context / 128) at a
# cost of 64 padding tokens a row on average.
ROW_MULTIPLE = 128


class PackedChunks:
    """The official code's chunks of one split, memory-mapped (see packing.py). A batch of chunks is
    one row: the chunks end to end, a segment each (attention stays inside each chunk and positions
    restart at each), padded at the end to a multiple of ``row_multiple`` tokens."""

    def __init__(self, folder: str | Path, split: str, row_multiple: int = ROW_MULTIPLE):
        folder = Path(folder)
        self.tokens = load_npy(folder / f"{split}_chunk_tokens.npy", mmap_mode="r")
        self.offsets = load_npy(folder / f"{split}_chunk_offsets.npy")
        if len(self.offsets) == 0 or self.offsets[-1] != len(self.tokens):
            raise unreadable(folder / f"{split}_chunk_offsets.npy",
                             ValueError(f"its offsets do not end at its tokens' {len(self.tokens)}"))
        self.lengths = np.diff(self.offsets)
        self.row_multiple = row_multiple

    def __len__(self) -> int:
        return len(self.lengths)

    def real_tokens(self) -> int:
        return int(self.lengths.sum())

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens and segments of one row: chunk k of the (sorted) indices is segment k + 1; padding 0."""
        indices = np.sort(np.asarray(indices))  # memory-map reads in file order
        lengths = self.lengths[indices]
        real = int(lengths.sum())
        width = max(1, -(-real // self.row_multiple)) * self.row_multiple
        tokens = np.zeros(width, dtype=np.int64)  # padding: the pad id, 0; its labels are ignored
        if real:
            tokens[:real] = np.concatenate([self.tokens[self.offsets[i]:self.offsets[i + 1]] for i in indices])
        segments = np.zeros(width, dtype=np.int64)
        segments[:real] = np.repeat(np.arange(1, len(indices) + 1), lengths)
        return torch.from_numpy(tokens)[None], torch.from_numpy(segments)[None]

    def step_size(self, indices: np.ndarray) -> tuple[int, int]:
        """The predicted tokens of these chunks (all but each chunk's first) and their real tokens."""
        lengths = self.lengths[indices]
        return int((lengths - 1).sum()), int(lengths.sum())

    def computed(self, indices: np.ndarray) -> tuple[int, int]:
        """What a step over these chunks computes: their real tokens and their attended pairs."""
        lengths = self.lengths[indices].astype(np.int64)
        return int(lengths.sum()), int((lengths * (lengths + 1) // 2).sum())


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy and the number of predicted tokens (both on the device)."""
    shifted = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                             shifted.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return loss, (shifted != IGNORE).sum()


def predicted_tokens(segments: np.ndarray) -> int:
    """How many tokens of these windows are predicted (what token_losses counts)."""
    segments = np.asarray(segments)
    return int(((segments[:, 1:] == segments[:, :-1]) & (segments[:, 1:] > 0)).sum())


def attended_pairs(segments: np.ndarray) -> int:
    """(query, key) pairs that attention inside documents computes: n (n + 1) / 2 per segment of n tokens."""
    segments = np.asarray(segments)
    lengths = []
    for row in segments:
        starts = np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]]))
        runs = np.diff(np.concatenate([starts, [len(row)]]))
        lengths.append(runs[row[starts] > 0])
    lengths = np.concatenate(lengths) if lengths else np.zeros(0)
    return int((lengths * (lengths + 1) // 2).sum())


def fused_loss_kernel(setting: str, device):
    """Liger's fused output layer and cross-entropy (summed, IGNORE left out) where ``setting`` is auto, the device
    a GPU and liger-kernel installed; else None, and the plain loss over the logits is used."""
    if setting == "off" or torch.device(device).type != "cuda":
        return None
    try:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
    except ImportError:
        return None
    return LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE, reduction="sum")


def fused_token_losses(model, inputs: dict, labels: torch.Tensor, fused) -> torch.Tensor:
    """The summed next-token cross-entropy from the last hidden states and the output layer's weight, by
    ``fused(weight, hidden, targets)``: the model is run for its hidden states (its logits for one position
    only), through any DDP wrapper, so that gradients still synchronise."""
    from slamming.training.engine import unwrap

    out = model(**inputs, use_cache=False, output_hidden_states=True, logits_to_keep=1)
    hidden = out.hidden_states[-1][:, :-1]
    weight = unwrap(model).get_output_embeddings().weight
    return fused(weight, hidden.reshape(-1, hidden.shape[-1]).to(weight.dtype), labels[:, 1:].reshape(-1))


class PackedTask:
    """Next-token prediction on packed windows or chunks, for the engine (pretraining and the demo's text LM)."""

    log_columns: ClassVar[list[str]] = []

    def __init__(self, data: PackedWindows | PackedChunks, attention: DocumentAttention, fused=None):
        self.data, self.attention, self.fused = data, attention, fused
        self.items = len(data)

    def load(self, indices: np.ndarray) -> dict:
        return self.attention.host(*self.data.batch(indices))

    def step_size(self, indices: np.ndarray) -> tuple[float, int]:
        """The step's predicted tokens (the loss's normaliser) and its tokens (for the budget)."""
        return self.data.step_size(indices)

    def loss(self, model, batch: dict):
        if self.fused is not None:
            return fused_token_losses(model, self.attention.inputs(batch), batch["labels"], self.fused), {}
        loss, _ = token_losses(model(**self.attention.inputs(batch), use_cache=False).logits, batch["labels"])
        return loss, {}

    def flops(self, model) -> Callable[[np.ndarray], float]:
        """Training FLOPs of a step: 6 per parameter and token, plus attention inside the documents
        (4 x hidden per layer and (query, key) pair forward, twice that backward)."""
        from slamming.training.speech_lm import count_parameters

        parameters, config = count_parameters(model), model.config
        layers, hidden = config.num_hidden_layers, config.hidden_size

        def step_flops(indices: np.ndarray) -> float:
            tokens, pairs = self.data.computed(indices)
            return 6.0 * parameters * tokens + 12.0 * layers * hidden * pairs

        return step_flops


@torch.no_grad()
def validation_loss(model, windows: PackedWindows | PackedChunks, micro_batch: int, attention: DocumentAttention, processes,
                    device) -> float | None:
    """Mean token loss over every validation window or chunk (shared out over processes, which may get
    different numbers of batches: the forward passes go around DDP, whose forward would wait for
    the other processes)."""
    from slamming.training.engine import all_sum

    if windows.real_tokens() == 0:
        return None
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.float64, device=device)
    for first in range(processes.rank * micro_batch, len(windows), processes.world * micro_batch):
        host = attention.host(*windows.batch(np.arange(first, min(first + micro_batch, len(windows)))))
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in host.items()}
        loss, n = token_losses(model(**attention.inputs(batch), use_cache=False).logits, batch["labels"])
        total, count = total + loss, count + n
    total, count = all_sum(torch.stack([total, count]), processes, device)
    return total / max(count, 1)


def packed_data(folder: Path, split: str, settings: dict, path: str) -> PackedWindows | PackedChunks:
    """A split as ``settings["packing"]`` packed it (``windows`` for the demo's text LM)."""
    if settings["packing"] == "windows":
        return PackedWindows(folder, split)
    # FlexAttention's kernel is compiled for one shape (attention.py): its rows are all of the longest length.
    # Document by document (a CPU: nothing compiled, no kernel's tile to fill) a row needs no padding at all.
    if path == "flex":
        row = settings["per_device_batch_size"] * settings["context_length"]
    else:
        row = 1 if path == "sdpa_documents" else ROW_MULTIPLE
    return PackedChunks(folder, split, row)


def check_packed(data: Path) -> None:
    """The packed arrays must be the ones their packing.json records (sizes and sha256): Snakemake sees a
    changed file's time, not a truncated or replaced one's contents."""
    report = Path(data) / "packing.json"
    if report.exists():
        check_file_records(data, read_json(report).get("files", {}), report)


def train_on_windows(init: Path, data: Path, settings: dict, seed: int, out: Path, work: Path, log, **engine_options) -> dict:
    """Train the causal LM in ``init`` on the packed windows or chunks in ``data`` under ``settings``'
    budget; the model is saved to ``out`` (see engine.py). What pretraining and the demo's text LM both run."""
    from transformers import AutoConfig

    from slamming.training.engine import Engine

    check_packed(data)
    engine = Engine(settings, seed, [init, data], out, work, log, **engine_options)
    # the longest row a batch can have: a window, or a micro-batch's chunks end to end
    row = settings["context_length"] * (1 if settings["packing"] == "windows" else settings["per_device_batch_size"])
    path = choose(settings["attention"], engine.device, AutoConfig.from_pretrained(init).model_type, row)
    model = engine.load_model(init, implementation(path))
    log.info("attention inside documents: %s", path)
    train, valid = packed_data(data, "train", settings, path), packed_data(data, "valid", settings, path)
    attention = DocumentAttention(path, engine.precision.compute)
    fused = fused_loss_kernel(settings["fused_loss"], engine.device)
    log.info("loss: %s", "Liger's fused output layer and cross-entropy" if fused else "cross-entropy over the logits")
    task = PackedTask(train, attention, fused)
    micro_batch, global_batch = settings["per_device_batch_size"], settings["global_batch_size"]
    if isinstance(train, PackedChunks):  # real tokens: the mean over an epoch (each step's are in the budget)
        packing, tokens_per_step = "official", round(global_batch * train.real_tokens() / max(len(train), 1))
    else:
        packing, tokens_per_step = "windows", global_batch * train.context
    return engine.fit(model, task, init, flops=task.flops(model),
                      validate=lambda m: validation_loss(m, valid, micro_batch, attention, engine.processes, engine.device),
                      summary={"attention": path, "packing": packing, "tokens_per_step": tokens_per_step})
