"""Small named helpers for the training loops (pretrain.py, dpo.py): the budget, the learning-rate
schedule, batches from packed windows, checkpoints, and processes under torchrun.

The budget is time. The recipe gives hours, not steps, so the schedule is a function of the fraction
of the budget used (``progress``), and warmup and cosine end when the budget ends without guessing a
step count. Time spent on validation and checkpoints is not counted; after a resume the clock goes on
from the checkpoint's elapsed time.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import logging
import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IGNORE = -100  # label of positions that are not predicted

# Model types whose Hugging Face code turns position ids that restart at 0 into per-document
# attention (checked in tests/test_training.py). With flash-attention installed they train with the
# varlen kernels; other models get an explicit block-diagonal mask.
PACKED_POSITION_IDS = {"qwen2", "qwen3", "llama", "mistral", "gpt_neox"}

# Dense bf16 peak of GPUs, for model FLOPs utilisation (MFU) in the training log.
PEAK_BF16_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "A5000": 111e12, "A6000": 155e12,
                   "L40S": 362e12, "4090": 165e12, "3090": 71e12}


# --- the budget and the schedule -------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """Training stops at the first limit reached; ``progress`` is the largest share used (1 = done)."""

    hours: float | None = None
    max_tokens: int | None = None
    epochs: float | None = None

    @classmethod
    def from_config(cls, section: dict) -> "Budget":
        budget = cls(section.get("hours"), section.get("max_tokens"), section.get("epochs"))
        if budget.hours is None and budget.max_tokens is None and budget.epochs is None:
            raise ValueError("budget: set at least one of hours, max_tokens, epochs")
        return budget

    def progress(self, seconds: float, tokens: int, epochs: float) -> float:
        shares = [0.0]
        if self.hours is not None:
            shares.append(seconds / (self.hours * 3600))
        if self.max_tokens is not None:
            shares.append(tokens / self.max_tokens)
        if self.epochs is not None:
            shares.append(epochs / self.epochs)
        return max(shares)


def learning_rate(settings: dict, step: int, progress: float) -> float:
    """The learning rate of optimiser step ``step`` (0-based), ending at ``progress`` of the budget.

    Warmup is linear and lasts the longer of ``warmup_steps`` steps and ``warmup_ratio`` of the
    budget. Then ``cosine`` falls to ``min_learning_rate`` exactly at progress 1, ``inverse_sqrt``
    decays as 1/sqrt(step) after ``warmup_steps`` (or after 10,000 steps, as Hugging Face's, when there
    is no step warmup), and ``constant`` stays.
    """
    peak = settings["learning_rate"]
    warmup_steps = settings.get("warmup_steps", 0) or 0
    warmup_ratio = settings.get("warmup_ratio", 0.0) or 0.0
    warm = min(1.0, (step + 1) / warmup_steps if warmup_steps else 1.0,
               progress / warmup_ratio if warmup_ratio else 1.0)
    schedule = settings["lr_scheduler"]
    if schedule == "constant":
        decay = 1.0
    elif schedule == "inverse_sqrt":
        timescale = warmup_steps or 10_000
        decay = math.sqrt(timescale / max(step + 1, timescale))
    elif schedule == "cosine":
        floor = settings.get("min_learning_rate", 0.0) / peak
        done = min(1.0, max(0.0, (progress - warmup_ratio) / (1.0 - warmup_ratio))) if warmup_ratio < 1 else 1.0
        decay = floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done))
    else:
        raise ValueError(f"unknown lr_scheduler {schedule!r}")
    return peak * warm * decay


# --- batches from packed windows -------------------------------------------------------------

class PackedWindows:
    """The packed windows of one split, memory-mapped (see pack.py)."""

    def __init__(self, folder: str | Path, split: str):
        folder = Path(folder)
        self.tokens = np.load(folder / f"{split}_tokens.npy", mmap_mode="r")
        self.segments = np.load(folder / f"{split}_segments.npy", mmap_mode="r")

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


class EpochOrder:
    """Which items (windows, pairs) each step trains on: a seeded permutation per epoch, consumed in order."""

    def __init__(self, n_items: int, seed: int, epoch: int = 0, cursor: int = 0):
        self.n, self.seed, self.epoch, self.cursor = n_items, seed, epoch, cursor

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def take(self, count: int) -> np.ndarray:
        out = []
        while count:
            permutation = self._permutation(self.epoch)
            chunk = permutation[self.cursor:self.cursor + count]
            out.append(chunk)
            count -= len(chunk)
            self.cursor += len(chunk)
            if self.cursor == self.n:
                self.epoch, self.cursor = self.epoch + 1, 0
        return np.concatenate(out)

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.cursor / self.n

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}


def document_inputs(tokens: torch.Tensor, segments: torch.Tensor, with_mask: bool, mask_dtype=torch.float32) -> dict:
    """Model inputs that keep attention inside each document of packed windows.

    Positions restart at 0 at every segment start. Labels are -100 where a token is not predicted
    from its own document (segment starts, padding). With ``with_mask`` an explicit block-diagonal
    causal mask goes along (for attention without the varlen kernels).
    """
    batch, context = tokens.shape
    arange = torch.arange(context, device=tokens.device).expand(batch, -1)
    starts = torch.ones_like(segments, dtype=torch.bool)
    starts[:, 1:] = segments[:, 1:] != segments[:, :-1]
    first = torch.cummax(torch.where(starts, arange, torch.zeros_like(arange)), dim=1).values
    labels = tokens.masked_fill(starts | (segments == 0), IGNORE)
    inputs = {"input_ids": tokens, "position_ids": arange - first, "labels": labels}
    if with_mask:
        same = segments[:, :, None] == segments[:, None, :]
        causal = torch.ones(context, context, dtype=torch.bool, device=tokens.device).tril()
        inputs["attention_mask"] = torch.zeros(batch, 1, context, context, dtype=mask_dtype, device=tokens.device) \
            .masked_fill(~(same & causal)[:, None], torch.finfo(mask_dtype).min)
    return inputs


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy and the number of predicted tokens."""
    shifted = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                             shifted.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return loss, int((shifted != IGNORE).sum())


def predicted_tokens(segments: np.ndarray) -> int:
    """How many tokens of these windows are predicted (what token_losses counts)."""
    segments = np.asarray(segments)
    return int(((segments[:, 1:] == segments[:, :-1]) & (segments[:, 1:] > 0)).sum())


# --- devices and processes -------------------------------------------------------------------

@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_processes(log: logging.Logger) -> tuple[Processes, torch.device]:
    """Join torchrun's process group when there is one; the device of this process. Only the first
    process logs progress (the others report warnings and errors), starting with what the job got."""
    from workflow_scripts.allocation import describe_allocation, one_line

    world = int(os.environ.get("WORLD_SIZE", "1"))
    processes = Processes(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if torch.cuda.is_available():
        device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if processes.main:
        log.info("running as %s; %d process(es)", one_line(describe_allocation()), world)
    else:
        logging.getLogger().setLevel(logging.WARNING)
    return processes, device


def all_sum(values: list[float], processes: Processes, device: torch.device) -> list[float]:
    if processes.world == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def slowest(seconds: float, processes: Processes, device: torch.device) -> float:
    """The longest of the processes' times for a step. Every decision taken from the clock (learning
    rate, validation, checkpoints, the end of the budget) must be the same on every process, or
    they would fall out of step and wait for each other for ever."""
    if processes.world == 1:
        return seconds
    tensor = torch.tensor([seconds], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return float(tensor.item())


def attention_implementation(model_type: str, device: torch.device) -> tuple[str, bool]:
    """(attn_implementation, whether an explicit document mask is needed)."""
    if device.type == "cuda" and model_type in PACKED_POSITION_IDS and importlib.util.find_spec("flash_attn"):
        return "flash_attention_2", False
    return "sdpa", True


def compute_dtype(settings: dict, device: torch.device) -> torch.dtype:
    """bfloat16 autocast (over float32 master weights) on GPUs that have it; float32 otherwise."""
    if settings["dtype"] == "bfloat16" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def make_optimizer(model: torch.nn.Module, settings: dict, device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused on CUDA; no weight decay on biases and norms (as Hugging Face's Trainer)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": settings.get("weight_decay", 0.0)},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings["learning_rate"], betas=(settings.get("adam_beta1", 0.9), settings.get("adam_beta2", 0.999)),
                             eps=settings.get("adam_epsilon", 1e-8), fused=device.type == "cuda")


def optimiser_step(model: torch.nn.Module, optimizer, max_grad_norm: float, device: torch.device) -> None:
    """Clip the global gradient norm, step, clear the gradients; on a GPU, wait for the step to
    finish, so that the clock read next measures it."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()


def gradient_accumulation(settings: dict, world: int) -> int:
    """Micro-steps per optimiser step that keep the recipe's global batch on ``world`` processes."""
    per_step = settings["per_device_batch_size"] * world
    if settings["global_batch_size"] % per_step:
        raise ValueError(f"global_batch_size {settings['global_batch_size']} is not a multiple of "
                         f"per_device_batch_size {settings['per_device_batch_size']} x {world} processes")
    return settings["global_batch_size"] // per_step


# --- checkpoints -----------------------------------------------------------------------------

def settings_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def rng_state() -> dict:
    numpy_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
            "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    random.setstate(_tuples(state["python"]))


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_checkpoint(folder: str | Path, model: torch.nn.Module, optimizer, state: dict, key: str) -> None:
    """Weights as safetensors, the rest (optimiser, progress, RNG) as tensors and plain values; written
    beside the old checkpoint and swapped in, so a kill never leaves a broken one."""
    from safetensors.torch import save_model

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "state": state, "rng": rng_state(), "key": key}, tmp / "trainer_state.pt")
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        folder.replace(old)
    tmp.replace(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: str | Path, model: torch.nn.Module, optimizer, key: str) -> dict | None:
    """The saved training state, or None when there is no checkpoint for these settings.

    Only tensors and plain values are unpickled (``weights_only``): a checkpoint cannot run code."""
    from safetensors.torch import load_model

    folder = Path(folder)
    if not (folder / "trainer_state.pt").exists():
        return None
    saved = torch.load(folder / "trainer_state.pt", map_location="cpu", weights_only=True)
    if saved["key"] != key:
        return None
    load_model(model, str(folder / "model.safetensors"))
    optimizer.load_state_dict(saved["optimizer"])
    set_rng_state(saved["rng"])
    return saved["state"]


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP and torch.compile wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or getattr(model, "_orig_mod")
    return model


# --- outputs ---------------------------------------------------------------------------------

class CsvLog:
    """A training log as CSV, one row per call of ``add``. Rows after a resumed checkpoint's step
    (written before the kill) are dropped, so the log reads as one run."""

    def __init__(self, path: Path, columns: list[str], after_step: int, write: bool = True):
        self.path, self.write = Path(path), write
        if not write:
            return
        rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= after_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(rows)

    def add(self, values: list) -> None:
        if self.write:
            with open(self.path, "a", newline="") as f:
                csv.writer(f).writerow([_round(v) if isinstance(v, float) else ("" if v is None else v) for v in values])


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def save_model(model, init: Path, out: Path, training_log: Path, summary: dict) -> None:
    """The trained model as a save_pretrained folder, with what it needs to be used and understood:
    its speech vocabulary or tokenizer, its training log and a summary of the training."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.config.use_cache = True
    model.save_pretrained(tmp, safe_serialization=True)
    for extra in ("speech_vocabulary.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(init) / extra).exists():
            shutil.copy(Path(init) / extra, tmp / extra)
    shutil.copy(training_log, tmp / "training_log.csv")
    (tmp / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
