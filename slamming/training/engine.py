"""The training engine: one budgeted loop that every trainer (pretraining, DPO, the demo's text LM) shares.

A trainer hands the engine a ``Task`` - its items (windows, preference pairs), how to load a
micro-batch of them, and the summed loss of one micro-batch - and the engine does the rest, read top
to bottom in ``Engine.fit``:

  1. the learning rate for where this optimiser step will end in the budget (``learning_rate``);
  2. ``global_batch_size`` items, split over processes and micro-steps (gradient accumulation is
     derived from the global batch, the per-device batch and the number of processes); the next
     micro-batch is loaded on a worker thread while this one runs;
  3. forward and backward under the run's precision, the loss divided by the step's normaliser (its
     predicted tokens, its pairs) so that the gradients are those of the mean over the global batch;
  4. gradient clipping and the AdamW step;
  5. book-keeping: tokens, training time (validation and checkpoints are not counted), a log row
     (losses stay on the device and are read once per logged step), validation and checkpoints.

The budget is a first-class setting: hours, tokens, epochs or optimiser steps, the first reached
ends training, and the schedule runs over the share of it used, so warmup and decay end when the
budget does without a step count to guess. A killed job resumes from its last checkpoint, whose key
is the content of its inputs (model weights, data) and the settings: a changed input never resumes an
old checkpoint, and a finished training deletes its checkpoint, so that forcing it again trains anew.
Under torchrun the same code runs data-parallel and takes every decision from the clock together.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from slamming.logs import StageError
from slamming.training import what_it_computes
from slamming.training.speech_lm import count_parameters

# Dense bf16 peak of GPUs, for model FLOPs utilisation (MFU) in the training log.
PEAK_BF16_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "A5000": 111e12, "A6000": 155e12,
                   "L40S": 362e12, "4090": 165e12, "3090": 71e12}

# A checkpoint at least this often, as a share of the budget, whatever checkpoint_every_minutes says:
# a short budget must checkpoint too, or a kill would lose all of it.
CHECKPOINTS_PER_BUDGET = 20


# --- the budget and the schedule -------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """Training stops at the first limit reached; ``progress`` is the largest share used (1 = done)."""

    hours: float | None = None
    max_tokens: int | None = None
    epochs: float | None = None
    max_steps: int | None = None
    # Training FLOPs (6 x parameters x tokens plus attention, as the step's ``flops`` counts them): what
    # makes two models of different sizes equal in compute (the paper's section 4.3 comparison).
    max_flops: float | None = None

    @classmethod
    def from_config(cls, section: dict) -> "Budget":
        budget = cls(section.get("hours"), section.get("max_tokens"), section.get("epochs"), section.get("max_steps"),
                     section.get("max_flops"))
        if all(limit is None for limit in (budget.hours, budget.max_tokens, budget.epochs, budget.max_steps, budget.max_flops)):
            raise ValueError("budget: set at least one of hours, max_tokens, epochs, max_steps, max_flops")
        return budget

    def progress(self, seconds: float, tokens: int, epochs: float, steps: int, flops: float = 0.0) -> float:
        shares = [0.0]
        if self.max_flops is not None:
            shares.append(flops / self.max_flops)
        if self.hours is not None:
            shares.append(seconds / (self.hours * 3600))
        if self.max_tokens is not None:
            shares.append(tokens / self.max_tokens)
        if self.epochs is not None:
            shares.append(epochs / self.epochs)
        if self.max_steps is not None:
            shares.append(steps / self.max_steps)
        return max(shares)


def inverse_sqrt(step: int, warmup_steps: int) -> float:
    """Hugging Face's ``get_inverse_sqrt_schedule`` factor at optimiser step ``step`` (0-based): linear
    warmup from 0 over ``warmup_steps``, then 1/sqrt decay with the timescale ``warmup_steps`` (10,000
    when there is no warmup, as Hugging Face's default)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    timescale = warmup_steps or 10_000
    return 1.0 / math.sqrt((step + timescale - warmup_steps) / timescale)


def learning_rate(settings: dict, step: int, progress: float) -> float:
    """The learning rate of optimiser step ``step`` (0-based), ending at ``progress`` of the budget.

    ``inverse_sqrt`` is Hugging Face's schedule by steps (its warmup is ``warmup_steps``). ``cosine``
    and ``constant`` warm up linearly for the longer of ``warmup_steps`` steps and ``warmup_ratio`` of
    the budget; then ``cosine`` falls to ``min_learning_rate`` exactly at progress 1.
    """
    peak = settings["learning_rate"]
    warmup_steps = settings.get("warmup_steps") or 0
    schedule = settings["lr_scheduler"]
    if schedule == "inverse_sqrt":
        return peak * inverse_sqrt(step, warmup_steps)
    warmup_ratio = settings.get("warmup_ratio") or 0.0
    warm = min(1.0, (step + 1) / warmup_steps if warmup_steps else 1.0,
               progress / warmup_ratio if warmup_ratio else 1.0)
    if schedule == "constant":
        return peak * warm
    if schedule == "cosine":
        floor = settings["min_learning_rate"] / peak
        done = min(1.0, max(0.0, (progress - warmup_ratio) / (1.0 - warmup_ratio))) if warmup_ratio < 1 else 1.0
        return peak * warm * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done)))
    raise ValueError(f"unknown lr_scheduler {schedule!r}")


# --- which items each step trains on ---------------------------------------------------------

class EpochOrder:
    """A seeded permutation of the items per epoch, consumed in order. The permutation of an epoch is
    computed once (at 4 M windows it takes 0.2 s: not something to redo every step)."""

    def __init__(self, n_items: int, seed: int, epoch: int = 0, cursor: int = 0):
        self.n, self.seed, self.epoch, self.cursor = n_items, seed, epoch, cursor
        self._permutations: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            self._permutations = {e: p for e, p in self._permutations.items() if e >= self.epoch}
            self._permutations[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._permutations[epoch]

    def _walk(self, count: int, epoch: int, cursor: int) -> tuple[np.ndarray, int, int]:
        out = []
        while count:
            chunk = self._permutation(epoch)[cursor:cursor + count]
            out.append(chunk)
            count -= len(chunk)
            cursor += len(chunk)
            if cursor == self.n:
                epoch, cursor = epoch + 1, 0
        return (np.concatenate(out) if out else np.zeros(0, np.int64)), epoch, cursor

    def take(self, count: int) -> np.ndarray:
        items, self.epoch, self.cursor = self._walk(count, self.epoch, self.cursor)
        return items

    def peek(self, count: int) -> np.ndarray:
        """What ``take(count)`` will return next, without taking it."""
        return self._walk(count, self.epoch, self.cursor)[0]

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.cursor / self.n

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}


# --- devices, processes and precision --------------------------------------------------------

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
    from slamming.training.allocation import describe_allocation, one_line

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


def all_sum(values: torch.Tensor | list[float], processes: Processes, device: torch.device) -> list[float]:
    """The sums over processes, read to the host (the one synchronisation of a logged step)."""
    tensor = torch.as_tensor(values, dtype=torch.float64, device=device)
    if processes.world > 1:
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


@dataclass(frozen=True)
class Precision:
    """How a model trains: the dtype of its weights and AdamW states, and the autocast dtype, if any.

    ``precision: pure`` (the default) keeps weights and AdamW states in bfloat16, as the paper's
    official code does (less memory, less exact updates); ``mixed`` is bfloat16 autocast over float32
    weights and AdamW states. ``dtype: float32``, or a GPU without bfloat16, is float32."""

    weights: torch.dtype = torch.float32
    autocast: torch.dtype | None = None

    @classmethod
    def of(cls, settings: dict, device: torch.device) -> "Precision":
        wanted = settings["dtype"]
        if wanted == "float32" or (device.type == "cuda" and not torch.cuda.is_bf16_supported()):
            return cls()
        if settings["precision"] == "pure":
            return cls(weights=torch.bfloat16)
        return cls(autocast=torch.bfloat16)

    def context(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.autocast) if self.autocast else nullcontext()

    @property
    def compute(self) -> torch.dtype:
        return self.autocast or self.weights

    def describe(self) -> str:
        if self.autocast:
            return f"{_name(self.autocast)} autocast over {_name(self.weights)} weights"
        return _name(self.weights)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def make_optimizer(model: torch.nn.Module, settings: dict, device: torch.device) -> torch.optim.Optimizer:
    """The recipe's ``optimizer`` over ``model``'s trainable weights; its states take their dtype.

    * ``adamw``: torch's, fused on CUDA; no weight decay on biases and norms (as Hugging Face's Trainer).
    * ``ademamix``: AdEMAMix (Pagliardini et al. 2024), pytorch-optimizer's: AdamW plus a slow
      momentum (``ademamix_beta3``) weighted ``ademamix_alpha``. Both warm up over the whole budget,
      the paper's setting; ``schedule_step`` re-estimates its length every step (a budget may be hours).
    * ``adalomo``: AdaLomo (Lv et al. 2023), pytorch-optimizer's: a factored second moment and no
      momentum, each weight updated inside backward as its gradient arrives (``fused_backward``), so no
      gradient is kept. Each micro-batch therefore updates the weights (as Hugging Face's Trainer runs
      it), and ``max_grad_norm`` does not apply: AdaLomo bounds each update's RMS by 1 instead.
    """
    name = settings["optimizer"]
    if name == "adalomo":
        from pytorch_optimizer import AdaLOMO

        if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            raise ValueError("optimizer adalomo updates the weights inside backward, before the GPUs' gradients are "
                             "averaged: train it on one GPU (gpus: 1)")
        return AdaLOMO(model, lr=settings["learning_rate"], weight_decay=settings["weight_decay"])
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": settings["weight_decay"]},
              {"params": no_decay, "weight_decay": 0.0}]
    betas = (settings["adam_beta1"], settings["adam_beta2"])
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=settings["learning_rate"], betas=betas, eps=settings["adam_epsilon"],
                                 fused=device.type == "cuda")
    if name == "ademamix":
        from pytorch_optimizer import AdEMAMix

        return AdEMAMix(groups, lr=settings["learning_rate"], betas=(*betas, settings["ademamix_beta3"]),
                        alpha=settings["ademamix_alpha"], t_alpha_beta3=1.0, weight_decouple=True,
                        eps=settings["adam_epsilon"])
    raise ValueError(f"unknown optimizer {name!r}: adamw, ademamix or adalomo")


def updates_in_backward(optimizer) -> bool:
    """Whether ``optimizer`` updates the weights inside backward (AdaLomo) rather than in ``step``."""
    return hasattr(optimizer, "fused_backward")


def schedule_step(optimizer, lr: float, step: int, progress_after: float) -> None:
    """Set optimiser step ``step``'s (0-based) learning rate; for AdEMAMix also the length of the
    warm-up of its alpha and beta3, the whole budget: the steps it will take, estimated from the
    share of it (``progress_after``) that this step will have spent."""
    total_steps = (step + 1) / max(progress_after, 1e-9)
    for group in optimizer.param_groups:
        group["lr"] = lr
        if "t_alpha_beta3" in group:
            group["t_alpha_beta3"] = max(total_steps, step + 1.0)


def gradient_accumulation(settings: dict, world: int) -> int:
    """Micro-steps per optimiser step that keep the recipe's global batch on ``world`` processes."""
    per_step = settings["per_device_batch_size"] * world
    if settings["global_batch_size"] % per_step:
        raise ValueError(f"global_batch_size {settings['global_batch_size']} is not a multiple of "
                         f"per_device_batch_size {settings['per_device_batch_size']} x {world} processes")
    return settings["global_batch_size"] // per_step


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP and torch.compile wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


# --- checkpoints, keyed by content -----------------------------------------------------------

def content_digest(paths: list[str | Path]) -> str:
    """sha256 over the contents of files and folders (every file inside, in name order): what an
    artifact was made from, whatever its path or modification time."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    digest.update(block)
    return digest.hexdigest()


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


class CheckpointUnreadable(StageError):
    """A checkpoint that exists but cannot be read; the message says which and what to do."""


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer, state: dict, key: str) -> None:
    """Weights as safetensors, the rest (optimiser, progress, RNG) as tensors and plain values; written
    beside the old checkpoint and swapped in, so a kill never leaves a broken one."""
    from safetensors.torch import save_model

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


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer, key: str) -> tuple[dict | None, str]:
    """(the saved training state, or None; what was found). Only tensors and plain values are
    unpickled (``weights_only``): a checkpoint cannot run code."""
    from safetensors.torch import load_model

    if not (folder / "trainer_state.pt").exists():
        return None, "no checkpoint"
    try:
        saved = torch.load(folder / "trainer_state.pt", map_location="cpu", weights_only=True)
        if saved["key"] != key:
            return None, f"the checkpoint in {folder} was made from other inputs or settings and is not used"
        load_model(model, str(folder / "model.safetensors"))
        optimizer.load_state_dict(saved["optimizer"])
    except Exception as e:  # a truncated or corrupt file, whichever library notices it
        raise CheckpointUnreadable(f"the checkpoint in {folder} cannot be read ({type(e).__name__}: {str(e)[:120]}); "
                                   f"delete the folder {folder} to start this training again from step 0") from None
    set_rng_state(saved["rng"])
    return saved["state"], f"checkpoint at step {saved['state']['step']}"


# --- outputs ---------------------------------------------------------------------------------

class CsvLog:
    """A training log as CSV, one row per call of ``add``. Rows after a resumed checkpoint's step
    (written before the kill) are dropped, so the log reads as one run."""

    def __init__(self, path: Path, columns: list[str], after_step: int, write: bool = True):
        self.path, self.columns, self.write = Path(path), columns, write
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

    def add(self, row: dict) -> None:
        if self.write:
            with open(self.path, "a", newline="") as f:
                csv.writer(f).writerow([_cell(row.get(c)) for c in self.columns])


def _cell(value):
    if value is None:
        return ""
    return float(f"{value:.6g}") if isinstance(value, float) else value


class Trackers:
    """Live experiment tracking beside the CSV log, as Hugging Face's Trainer offers it (``report_to``):
    TensorBoard (event files in ``<work>/tensorboard``) and Weights & Biases (when installed and
    configured). Off by default; never needed offline."""

    def __init__(self, report_to: list[str], folder: Path, name: str, config: dict, active: bool):
        self.writers = []
        if not active:
            return
        for target in report_to:
            if target == "tensorboard":
                from torch.utils.tensorboard import SummaryWriter

                self.writers.append(("tensorboard", SummaryWriter(log_dir=str(folder / "tensorboard"))))
            elif target == "wandb":
                import wandb

                self.writers.append(("wandb", wandb.init(project=os.environ.get("WANDB_PROJECT", "slamming"), name=name,
                                                         config=config, resume="allow")))
            else:
                raise ValueError(f"report_to: unknown tracker {target!r} (expected tensorboard or wandb)")

    def add(self, row: dict, step: int, split: str) -> None:
        scalars = {f"{split}/{k}": v for k, v in row.items() if isinstance(v, (int, float)) and k not in ("step", "split")}
        for kind, writer in self.writers:
            if kind == "tensorboard":
                for key, value in scalars.items():
                    writer.add_scalar(key, value, step)
            else:
                writer.log(scalars, step=step)

    def close(self) -> None:
        for kind, writer in self.writers:
            writer.close() if kind == "tensorboard" else writer.finish()


def save_model(model, init: Path, out: Path, training_log: Path, summary: dict) -> None:
    """The trained model as a save_pretrained folder, with what it needs to be used and understood:
    its speech vocabulary or tokenizer, its training log and a summary of the training."""
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


# --- the loop --------------------------------------------------------------------------------

class Task(Protocol):
    """What a trainer gives the engine."""

    items: int              # what an epoch passes over (windows, preference pairs)
    log_columns: list[str]  # the task's own figures in the training log, beside the engine's

    def load(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """A micro-batch of these items as CPU tensors (runs on a worker thread, ahead of its use)."""

    def step_size(self, indices: np.ndarray) -> tuple[float, int]:
        """(the normaliser of the loss of a step over these items - its predicted tokens or its pairs,
        over all processes - and its tokens, for the budget), read on the host."""

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The summed loss of a micro-batch and the sums of the task's own figures (e.g. correct pairs)."""


@dataclass
class Timing:
    """When the next log row, validation and checkpoint are due."""

    log_every_seconds: float = 10.0
    log_every_steps: int | None = None
    validate_every_seconds: float | None = None
    checkpoint_every_seconds: float = 1800.0
    checkpoint_every_steps: int | None = None


@dataclass
class Window:
    """What happened since the last log row: sums kept on the device, read once."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    weight: float = 0.0
    tokens: int = 0
    seconds: float = 0.0
    flops: float = 0.0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for name, value in values.items():
            value = value.detach().to(torch.float64)
            self.sums[name] = self.sums[name] + value if name in self.sums else value


class Engine:
    """Devices, processes, precision, the budget, resume and the final save of one training."""

    LOG_COLUMNS = ["step", "split", "loss", "learning_rate", "tokens", "tokens_per_second", "elapsed_seconds", "mfu"]

    def __init__(self, settings: dict, seed: int, inputs: list[Path], out: Path, work: Path, log: logging.Logger,
                 clock: Callable[[], float] = time.perf_counter, checkpoint_every_steps: int | None = None,
                 log_every_steps: int | None = None, log_every_seconds: float = 10.0):
        self.settings, self.seed, self.out, self.work, self.log, self.clock = settings, seed, Path(out), Path(work), log, clock
        self.processes, self.device = start_processes(log)
        self.precision = Precision.of(settings, self.device)
        self.budget = Budget.from_config(settings["budget"])
        self.accumulation = gradient_accumulation(settings, self.processes.world)
        # The checkpoint's key: the settings that change what is computed and the contents of every input,
        # never their paths.
        self.key = hashlib.sha256(json.dumps([what_it_computes(settings), seed, self.processes.world, content_digest(inputs)],
                                             sort_keys=True, default=str).encode()).hexdigest()[:16]
        budget_seconds = self.budget.hours * 3600 if self.budget.hours else None
        self.timing = Timing(
            log_every_seconds=log_every_seconds, log_every_steps=log_every_steps,
            validate_every_seconds=60 * settings["validate_every_minutes"] if settings.get("validate_every_minutes") else None,
            checkpoint_every_seconds=min(60 * settings["checkpoint_every_minutes"],
                                         budget_seconds / CHECKPOINTS_PER_BUDGET if budget_seconds else math.inf),
            checkpoint_every_steps=checkpoint_every_steps)
        torch.manual_seed(seed)

    def load_model(self, folder: Path, attention: str = "sdpa"):
        """A causal LM from a save_pretrained folder, on this process's device in the weights' dtype."""
        from slamming.artifacts import load_causal_lm

        model = load_causal_lm(folder, dtype=self.precision.weights, attn_implementation=attention)
        model.config.use_cache = False
        return model.to(self.device).train()

    def wrap(self, model):
        """torch.compile (``compile``: auto compiles on a GPU, not on a CPU), and DDP over the processes.
        The transformer blocks are compiled one by one, in place: the same few graphs for every layer,
        so compiling takes seconds where the whole model would take minutes."""
        setting = self.settings["compile"]
        if setting is True or (setting == "auto" and self.device.type == "cuda"):
            blocks = _transformer_blocks(model)
            if blocks is None:
                model = torch.compile(model)
            else:
                for block in blocks:
                    block.compile()
        if self.processes.world > 1:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return model

    def fit(self, model, task: Task, init: Path, validate: Callable | None = None,
            flops: Callable[[np.ndarray], float] | None = None, summary: dict | None = None,
            finish: Callable[[torch.nn.Module], dict] | None = None) -> dict:
        """Train ``model`` on ``task`` until the budget is spent; save it to ``out``; the summary (with
        what ``finish`` measures of the trained model, such as DPO's held-out preference)."""
        settings, processes, device, budget, timing = self.settings, self.processes, self.device, self.budget, self.timing
        optimizer = make_optimizer(model, settings, device)
        in_backward = updates_in_backward(optimizer)
        state, found = load_checkpoint(self.work / "checkpoint", model, optimizer, self.key)
        if state is None:
            state = {"step": 0, "tokens": 0, "seconds": 0.0, "epoch": 0, "cursor": 0, "last_step_seconds": 0.0, "flops": 0.0}
            self.log.info("starting from step 0: %s", found)
        else:
            self.log.info("resumed from step %d (the %s): %.1f training seconds already spent", state["step"], found,
                          state["seconds"])
        order = EpochOrder(task.items, self.seed, state["epoch"], state["cursor"])
        columns = self.LOG_COLUMNS + task.log_columns
        history = CsvLog(self.work / "training_log.csv", columns, after_step=state["step"], write=processes.main)
        trackers = Trackers(settings["report_to"], self.work, self.out.parent.name + "/" + self.out.name,
                            settings, processes.main)
        wrapped = self.wrap(model)
        peak = peak_flops(device)
        global_batch, micro_batch = settings["global_batch_size"], settings["per_device_batch_size"]
        loader = Prefetch(task.load, device)

        def mine(items: np.ndarray, micro: int) -> np.ndarray:
            first = (micro * processes.world + processes.rank) * micro_batch
            return items[first:first + micro_batch]

        state.setdefault("flops", 0.0)  # a checkpoint from before the FLOPs budget

        def progress(extra_seconds=0.0, extra_tokens=0, extra_items=0, extra_steps=0, extra_flops=0.0) -> float:
            return budget.progress(state["seconds"] + extra_seconds, state["tokens"] + extra_tokens,
                                   order.epochs_done + extra_items / task.items, state["step"] + extra_steps,
                                   state["flops"] + extra_flops)

        last = {"log": -math.inf, "validation": state["seconds"], "checkpoint": state["seconds"],
                "checkpoint_progress": progress()}
        window, validated_at = Window(), None
        while progress() < 1.0:
            started = self.clock()
            step_items = order.take(global_batch)
            weight, step_tokens = task.step_size(step_items)
            step_flops = flops(step_items) if flops else 0.0
            # 1. The learning rate for where this step will end (its items are taken already; the last
            #    step's length estimates its time), so the schedule ends exactly when the budget does.
            progress_after = min(1.0, progress(state["last_step_seconds"], step_tokens, 0, 1, step_flops))
            lr = learning_rate(settings, state["step"], progress_after)
            schedule_step(optimizer, lr, state["step"], progress_after)
            # 2.-3. Micro-steps; the next one's data loads meanwhile. Gradients sync on the last one only.
            following = order.peek(global_batch)
            for micro in range(self.accumulation):
                upcoming = mine(step_items, micro + 1) if micro + 1 < self.accumulation else mine(following, 0)
                batch = loader.get(mine(step_items, micro), upcoming)
                sync = micro == self.accumulation - 1 or processes.world == 1
                with (nullcontext() if sync else wrapped.no_sync()), self.precision.context(device):
                    loss, figures = task.loss(wrapped, batch)
                    if in_backward:
                        optimizer.fused_backward(loss * processes.world / weight, lr)
                    else:
                        (loss * processes.world / weight).backward()
                window.add({"loss": loss, **figures})
            # 4. Clip and step (AdaLomo stepped inside backward); on a GPU, wait for the step to finish,
            #    so that the clock measures it.
            if not in_backward:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings["max_grad_norm"])
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            # 5. Book-keeping.
            step_seconds = slowest(self.clock() - started, processes, device)
            state.update(step=state["step"] + 1, tokens=state["tokens"] + step_tokens, seconds=state["seconds"] + step_seconds,
                         last_step_seconds=step_seconds, flops=state["flops"] + step_flops, **order.state_dict())
            window.weight, window.tokens = window.weight + weight, window.tokens + step_tokens
            window.seconds, window.flops = window.seconds + step_seconds, window.flops + step_flops
            finished = progress() >= 1.0
            if finished or (state["step"] % timing.log_every_steps == 0 if timing.log_every_steps
                            else state["seconds"] - last["log"] >= timing.log_every_seconds):
                row = self._log_row(window, state, lr, peak, progress())
                history.add(row)
                trackers.add(row, state["step"], "train")
                last["log"], window = state["seconds"], Window()
            if validate and timing.validate_every_seconds and state["seconds"] - last["validation"] >= timing.validate_every_seconds:
                self._validate(validate, model, state, lr, history, trackers)
                last["validation"], validated_at = state["seconds"], state["step"]
            due = (state["step"] % timing.checkpoint_every_steps == 0 if timing.checkpoint_every_steps else
                   state["seconds"] - last["checkpoint"] >= timing.checkpoint_every_seconds
                   or progress() - last["checkpoint_progress"] >= 1 / CHECKPOINTS_PER_BUDGET)
            if due and not finished and processes.main:
                save_checkpoint(self.work / "checkpoint", unwrap(model), optimizer, state, self.key)
                last["checkpoint"], last["checkpoint_progress"] = state["seconds"], progress()

        loader.close()
        final_valid = None
        if validate:
            final_valid = (self._validate(validate, model, state, None, history, trackers) if validated_at != state["step"]
                           else self._last_validation)
        trackers.close()
        result = {"steps": state["step"], "tokens": state["tokens"], "training_seconds": state["seconds"],
                  "epochs": order.epochs_done, "training_flops": state["flops"], "valid_loss": final_valid, "parameters": count_parameters(model),
                  "processes": processes.world, "gradient_accumulation": self.accumulation,
                  "precision": self.precision.describe(), "budget": settings["budget"],
                  "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", **(summary or {})}
        if finish:
            result.update(finish(unwrap(model)))
        if processes.main:
            save_model(unwrap(model), init, self.out, self.work / "training_log.csv", result)
            # Done: the checkpoint must not be taken as its own by a later, forced run of this training,
            # nor the log of its attempts be told again.
            shutil.rmtree(self.work / "checkpoint", ignore_errors=True)
            (self.work / "attempts.log").unlink(missing_ok=True)
        if processes.world > 1:
            torch.distributed.barrier()
        return result

    def _log_row(self, window: Window, state: dict, lr: float, peak: float | None, progress: float) -> dict:
        names = list(window.sums)
        totals = dict(zip(names, all_sum([window.sums[n] for n in names], self.processes, self.device))) if names else {}
        speed = window.tokens / max(window.seconds, 1e-9)
        mfu = window.flops / (window.seconds * peak * self.processes.world) if peak and window.flops else None
        row = {"step": state["step"], "split": "train", "loss": totals.pop("loss", 0.0) / max(window.weight, 1e-12),
               "learning_rate": lr, "tokens": state["tokens"], "tokens_per_second": speed,
               "elapsed_seconds": state["seconds"], "mfu": mfu,
               **{name: value / max(window.weight, 1e-12) for name, value in totals.items()}}
        self.log.info("step %d: loss %.4f, lr %.2e, %.0f tokens/s%s, %.0f s of training (%.1f%% of the budget)", row["step"],
                      row["loss"], lr, speed, f", MFU {mfu:.1%}" if mfu else "", state["seconds"],
                      100 * min(1.0, progress))
        return row

    _last_validation: float | None = None

    def _validate(self, validate: Callable, model, state: dict, lr, history: CsvLog, trackers: Trackers) -> float | None:
        with self.precision.context(self.device):
            value = validate(unwrap(model))
        model.train()
        row = {"step": state["step"], "split": "valid", "loss": value, "learning_rate": lr, "tokens": state["tokens"],
               "elapsed_seconds": state["seconds"]}
        history.add(row)
        trackers.add(row, state["step"], "valid")
        self._last_validation = value
        return value


def _transformer_blocks(model) -> list | None:
    """The repeated blocks of a Hugging Face causal LM (model.model.layers, or OPT's decoder layers)."""
    inner = getattr(model, "model", None)
    for candidate in (getattr(inner, "layers", None), getattr(getattr(inner, "decoder", None), "layers", None)):
        if isinstance(candidate, torch.nn.ModuleList) and len(candidate):
            return list(candidate)
    return None


class Prefetch:
    """Loads the next micro-batch on a worker thread while the current one runs; on a GPU into pinned
    memory, copied without blocking."""

    def __init__(self, load: Callable[[np.ndarray], dict], device: torch.device):
        self.load, self.device = load, device
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending: tuple[np.ndarray, object] | None = None

    def _load(self, indices: np.ndarray) -> dict:
        batch = self.load(indices)
        if self.device.type == "cuda":
            batch = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        return batch

    def get(self, indices: np.ndarray, upcoming: np.ndarray | None) -> dict[str, torch.Tensor]:
        if self.pending is not None and np.array_equal(self.pending[0], indices):
            batch = self.pending[1].result()
        else:
            batch = self._load(indices)
        self.pending = (upcoming, self.pool.submit(self._load, upcoming)) if upcoming is not None and len(upcoming) else None
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def close(self) -> None:
        self.pool.shutdown(wait=True)
