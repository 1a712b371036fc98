"""Pretraining on packed windows, for the engine: memory-mapped batches, the next-token loss over a
step's predicted tokens, attention kept inside each document (``attention.py``), FLOPs for MFU, the
validation loss. What the speech LM's pretraining and the demo's text LM both run (``train_on_windows``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from slamming.artifacts import load_npy, unreadable
from slamming.attention import IGNORE, DocumentAttention, choose, implementation

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
        indices = np.sort(np.asarray(indices))  # memory-map reads in file order
        return (torch.from_numpy(self.tokens[indices].astype(np.int64)),
                torch.from_numpy(self.segments[indices].astype(np.int64)))


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


class WindowsTask:
    """Next-token prediction on packed windows, for the engine (pretraining and the demo's text LM)."""

    log_columns: list[str] = []

    def __init__(self, windows: PackedWindows, attention: DocumentAttention):
        self.windows, self.attention = windows, attention
        self.items = len(windows)

    def load(self, indices: np.ndarray) -> dict:
        return self.attention.host(*self.windows.batch(indices))

    def step_size(self, indices: np.ndarray) -> tuple[float, int]:
        """The step's predicted tokens (the loss's normaliser) and its tokens, padding included."""
        return predicted_tokens(self.windows.segments[np.sort(indices)]), len(indices) * self.windows.context

    def loss(self, model, batch: dict):
        loss, _ = token_losses(model(**self.attention.inputs(batch), use_cache=False).logits, batch["labels"])
        return loss, {}

    def flops(self, model) -> Callable[[np.ndarray], float]:
        """Training FLOPs of a step: 6 per parameter and token, plus attention inside the documents
        (4 x hidden per layer and (query, key) pair forward, twice that backward)."""
        from slamming.speech_lm import count_parameters

        parameters, config = count_parameters(model), model.config
        layers, hidden = config.num_hidden_layers, config.hidden_size

        def step_flops(indices: np.ndarray) -> float:
            segments = self.windows.segments[np.sort(indices)]
            return 6.0 * parameters * segments.size + 12.0 * layers * hidden * attended_pairs(segments)

        return step_flops


@torch.no_grad()
def validation_loss(model, windows: PackedWindows, micro_batch: int, attention: DocumentAttention, processes, device) -> float | None:
    """Mean token loss over every validation window (shared out over processes, which may get
    different numbers of batches: the forward passes go around DDP, whose forward would wait for
    the other processes)."""
    from slamming.engine import all_sum

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


def train_on_windows(init: Path, data: Path, settings: dict, seed: int, out: Path, work: Path, log, **engine_options) -> dict:
    """Train the causal LM in ``init`` on the packed windows in ``data`` under ``settings``' budget;
    the model is saved to ``out`` (see engine.py). What pretraining and the demo's text LM both run."""
    from transformers import AutoConfig

    from slamming.engine import Engine

    engine = Engine(settings, seed, [init, data], out, work, log, **engine_options)
    path = choose(settings.get("attention", "auto"), engine.device, AutoConfig.from_pretrained(init).model_type)
    model = engine.load_model(init, implementation(path))
    log.info("attention inside documents: %s", path)
    train, valid = PackedWindows(data, "train"), PackedWindows(data, "valid")
    attention = DocumentAttention(path, engine.precision.compute)
    task = WindowsTask(train, attention)
    micro_batch = settings["per_device_batch_size"]
    return engine.fit(model, task, init, flops=task.flops(model),
                      validate=lambda m: validation_loss(m, valid, micro_batch, attention, engine.processes, engine.device),
                      summary={"attention": path, "tokens_per_step": settings["global_batch_size"] * train.context})
