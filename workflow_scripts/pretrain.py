"""Pretrain a causal LM on packed windows under a compute budget: the speech LM (Slam, Table 4) and the
demo's text LM share this loop.

Read top to bottom, one optimiser step is:
  1. the learning rate for the fraction of the budget this step will end at (``training.learning_rate``);
  2. ``global_batch_size`` windows, split over processes and micro-steps (gradient accumulation is
     derived from the global batch, the per-device batch and the number of processes);
  3. forward with attention kept inside each packed document, bf16 autocast over float32 master
     weights on GPU, the summed token loss scaled by the step's token count, backward;
  4. gradient clipping, AdamW;
  5. book-keeping: tokens, elapsed training time (validation and checkpoints are not counted), a log
     row; validation and checkpoints when their time comes.
It stops when the budget is used up, then writes the model as a ``save_pretrained`` folder with its
training log. Killed, it continues from its last checkpoint and spends only the rest of the budget.

Under torchrun (``torchrun --nproc_per_node N -m workflow_scripts.pretrain ...``) the same code runs
data-parallel; the losses equal one process's with the same global batch.

Command line::

    python -m workflow_scripts.pretrain --init results/models/demo/init --data results/packed/.../ctx256-... \\
        --settings '{"learning_rate": 1e-3, ...}' --seed 0 --out results/models/demo/pretrained
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from workflow_scripts.logs import setup_stage
from workflow_scripts.training import (Budget, CsvLog, EpochOrder, PackedWindows, all_sum, attention_implementation,
                                       compute_dtype, document_inputs, gradient_accumulation, learning_rate,
                                       load_checkpoint, make_optimizer, optimiser_step, peak_flops, predicted_tokens,
                                       save_checkpoint, save_model, settings_hash, slowest, start_processes,
                                       token_losses, unwrap)

log = logging.getLogger("pretrain")

LOG_COLUMNS = ["step", "split", "loss", "learning_rate", "tokens", "tokens_per_second", "elapsed_seconds", "mfu"]


def train(init: Path, data: Path, settings: dict, seed: int, out: Path, work: Path, clock=time.perf_counter,
          checkpoint_every_steps: int | None = None, log_every_seconds: float = 10.0, log_every_steps: int | None = None) -> dict:
    from transformers import AutoConfig, AutoModelForCausalLM

    processes, device = start_processes(log)
    torch.manual_seed(seed)
    model_type = AutoConfig.from_pretrained(init).model_type
    attention, needs_mask = attention_implementation(model_type, device)
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32, attn_implementation=attention).to(device)
    model.config.use_cache = False
    model.train()
    dtype = compute_dtype(settings, device)
    optimizer = make_optimizer(model, settings, device)
    parameters = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())

    train_windows, valid_windows = PackedWindows(data, "train"), PackedWindows(data, "valid")
    micro_batch = settings["per_device_batch_size"]
    accumulation = gradient_accumulation(settings, processes.world)
    budget = Budget.from_config(settings["budget"])
    tokens_per_step = settings["global_batch_size"] * train_windows.context

    # Resume: the checkpoint counts only if it was made with these very settings and data.
    key = settings_hash(settings, seed, str(init), str(data), processes.world)
    state = load_checkpoint(work / "checkpoint", model, optimizer, key) or \
        {"step": 0, "tokens": 0, "seconds": 0.0, "epoch": 0, "cursor": 0, "last_step_seconds": 0.0}
    order = EpochOrder(len(train_windows), seed, state["epoch"], state["cursor"])
    history = CsvLog(work / "training_log.csv", LOG_COLUMNS, after_step=state["step"], write=processes.main)
    if state["step"]:
        log.info("resumed from the checkpoint at step %d: %.1f of %s training seconds used", state["step"],
                 state["seconds"], budget.hours and budget.hours * 3600)

    if settings.get("compile"):
        model = torch.compile(model)
    if processes.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    flops = peak_flops(device)
    validate_every = settings.get("validate_every_minutes", 30.0) * 60
    checkpoint_every = settings.get("checkpoint_every_minutes", 30.0) * 60
    last_validation, last_checkpoint, last_log = state["seconds"], state["seconds"], -float("inf")
    window_tokens, window_seconds = 0, 0.0

    while budget.progress(state["seconds"], state["tokens"], order.epochs_done) < 1.0:
        started = clock()
        # 1. The learning rate for where this step will end (the last step's length as the estimate),
        #    so the schedule reaches its end exactly when the budget does.
        expected_end = budget.progress(state["seconds"] + state["last_step_seconds"],
                                       state["tokens"] + tokens_per_step, order.epochs_done)
        lr = learning_rate(settings, state["step"], min(1.0, expected_end))
        for group in optimizer.param_groups:
            group["lr"] = lr

        # 2. This step's windows: every process knows them all, and takes its own share.
        step_windows = order.take(settings["global_batch_size"])
        step_count = predicted_tokens(train_windows.segments[np.sort(step_windows)])
        loss_sum = 0.0
        for micro in range(accumulation):
            first = (micro * processes.world + processes.rank) * micro_batch
            tokens, segments = train_windows.batch(step_windows[first:first + micro_batch])
            inputs = document_inputs(tokens.to(device), segments.to(device), needs_mask, mask_dtype=dtype)
            labels = inputs.pop("labels")
            # 3. The summed token loss over this step's token count (times the processes, which DDP
            #    averages over): gradients are those of the mean loss over the global batch.
            sync = micro == accumulation - 1 or processes.world == 1
            with (nullcontext() if sync else model.no_sync()), autocast:
                logits = model(**inputs, use_cache=False).logits
                loss, _ = token_losses(logits, labels)
                (loss * processes.world / step_count).backward()
            loss_sum += loss.item()

        # 4. Clip and step.
        optimiser_step(model, optimizer, settings["max_grad_norm"], device)

        # 5. Book-keeping.
        step_seconds = slowest(clock() - started, processes, device)
        loss = all_sum([loss_sum], processes, device)[0] / step_count
        state.update(step=state["step"] + 1, tokens=state["tokens"] + tokens_per_step,
                     seconds=state["seconds"] + step_seconds, last_step_seconds=step_seconds, **order.state_dict())
        window_tokens, window_seconds = window_tokens + tokens_per_step, window_seconds + step_seconds
        log_due = state["step"] % log_every_steps == 0 if log_every_steps else state["seconds"] - last_log >= log_every_seconds
        if log_due or budget.progress(state["seconds"], state["tokens"], order.epochs_done) >= 1.0:
            speed = window_tokens / max(window_seconds, 1e-9)
            mfu = 6 * parameters * speed / (flops * processes.world) if flops else None
            history.add([state["step"], "train", loss, lr, state["tokens"], speed, state["seconds"], mfu])
            log.info("step %d: loss %.4f, lr %.2e, %.0f tokens/s%s, %.0f s of the budget used (%.1f%%)", state["step"], loss,
                     lr, speed, f", MFU {mfu:.1%}" if mfu else "", state["seconds"],
                     100 * budget.progress(state["seconds"], state["tokens"], order.epochs_done))
            last_log, window_tokens, window_seconds = state["seconds"], 0, 0.0
        if state["seconds"] - last_validation >= validate_every:
            history.add([state["step"], "valid", validation_loss(model, valid_windows, micro_batch, needs_mask, dtype, processes,
                                                                 device), lr, state["tokens"], None, state["seconds"], None])
            last_validation = state["seconds"]
        due = state["step"] % checkpoint_every_steps == 0 if checkpoint_every_steps else state["seconds"] - last_checkpoint >= checkpoint_every
        if due and processes.main:
            save_checkpoint(work / "checkpoint", unwrap(model), optimizer, state, key)
            last_checkpoint = state["seconds"]

    final_valid = validation_loss(model, valid_windows, micro_batch, needs_mask, dtype, processes, device)
    history.add([state["step"], "valid", final_valid, None, state["tokens"], None, state["seconds"], None])
    summary = {"steps": state["step"], "tokens": state["tokens"], "training_seconds": state["seconds"],
               "valid_loss": final_valid, "parameters": parameters, "processes": processes.world,
               "gradient_accumulation": accumulation, "tokens_per_step": tokens_per_step, "attention": attention,
               "dtype": str(dtype).replace("torch.", ""), "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    if processes.main:
        save_model(unwrap(model), init, out, work / "training_log.csv", summary)
    if processes.world > 1:
        torch.distributed.barrier()
    return summary


@torch.no_grad()
def validation_loss(model, windows: PackedWindows, micro_batch: int, needs_mask: bool, dtype, processes, device) -> float | None:
    """Mean token loss over every validation window (shared out over processes, which may get
    different numbers of batches: the forward passes go around DDP, whose forward would wait for
    the other processes)."""
    if windows.real_tokens() == 0:
        return None
    model = unwrap(model)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    model.eval()
    total, count = 0.0, 0
    for first in range(processes.rank * micro_batch, len(windows), processes.world * micro_batch):
        tokens, segments = windows.batch(np.arange(first, min(first + micro_batch, len(windows))))
        inputs = document_inputs(tokens.to(device), segments.to(device), needs_mask, mask_dtype=dtype)
        labels = inputs.pop("labels")
        with autocast:
            loss, n = token_losses(model(**inputs, use_cache=False).logits, labels)
        total, count = total + loss.item(), count + n
    model.train()
    total, count = all_sum([total, count], processes, device)
    return total / max(count, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", required=True, help="the model to start from (save_pretrained folder)")
    parser.add_argument("--data", required=True, help="folder of packed windows (pack.py)")
    parser.add_argument("--settings", required=True, help="the recipe's pretrain section as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", help="checkpoints and the running log; default <out>.work")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--checkpoint-every-steps", type=int, help="checkpoint by steps instead of minutes")
    parser.add_argument("--log-every-steps", type=int, help="a log row every N steps instead of every 10 s")
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_stage(args.log_file, args.threads)
    out = Path(args.out)
    summary = train(Path(args.init), Path(args.data), json.loads(args.settings), args.seed, out,
                    Path(args.work) if args.work else out.with_name(out.name + ".work"),
                    checkpoint_every_steps=args.checkpoint_every_steps, log_every_steps=args.log_every_steps)
    log.info("done: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
