"""Benchmark: this workflow's pretraining loop against the official code's approach, in one run.

The same model (same initial weights) trains for the same number of optimiser steps on the same
documents, two ways:

* ``this loop``: documents packed end to end into full windows (pack.py), attention kept inside each
  document, ``global_batch_size`` windows per step (pretrain.train);
* ``reference``: Hugging Face ``Trainer`` with ``DataCollatorWithFlattening`` over chunks, as slamkit
  does: each document cut into chunks of at most the context length, each batch of
  ``per_device_batch_size`` chunks concatenated into one row with restarting position ids.

It prints real (non-padding) tokens per second of training, tokens per optimiser step and the ratios.
The documents are synthetic units with lengths like Libri-Light's VAD chunks (``--mean-seconds``),
or a packed-windows folder of the workflow (``--data``).

Command line::

    python -m benchmarking.training [--size tiny|small|slam] [--steps 20] [--context 1024]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

LOG = logging.getLogger("benchmark_training")

SIZES = {  # Qwen2 shapes; slam is Qwen2.5-0.5B's (358M parameters with the speech vocabulary)
    "tiny": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2),
    "slam": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2),
}


def synthetic_documents(n: int, mean_tokens: float, seed: int):
    from slamming.packing import Documents

    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(mean_tokens), 0.5, size=n), 8, 4 * mean_tokens).astype(int)
    pieces = [np.concatenate([[1], rng.integers(2, 502, size=length), [1]]) for length in lengths]
    return Documents(np.concatenate(pieces).astype(np.uint16), np.concatenate([[0], np.cumsum([len(p) for p in pieces])]))


def documents_from_windows(folder: Path):
    """Documents back from packed windows (each segment as one document)."""
    from slamming.packing import Documents

    tokens, segments = np.load(folder / "train_tokens.npy"), np.load(folder / "train_segments.npy")
    pieces = [row[seg == s] for row, seg in zip(tokens, segments) for s in range(1, int(seg.max()) + 1)]
    return Documents(np.concatenate(pieces).astype(np.uint16), np.concatenate([[0], np.cumsum([len(p) for p in pieces])]))


def run_ours(init: Path, documents, settings: dict, steps: int, work: Path) -> dict:
    from slamming.packing import mix_order, pack
    from slamming.pretraining import train_on_windows

    context = settings["context_length"]
    windows = -(-int(documents.offsets[-1]) // context)
    data = work / "windows"
    data.mkdir(parents=True)
    tokens, segments = np.zeros((windows, context), np.uint16), np.zeros((windows, context), np.uint16)
    stats = pack([documents], mix_order([len(documents)], [1.0], 0), context, tokens, segments, np.zeros(windows, bool), 0)
    for split in ("train", "valid"):
        np.save(data / f"{split}_tokens.npy", tokens if split == "train" else tokens[:1])
        np.save(data / f"{split}_segments.npy", segments if split == "train" else segments[:1])
    tokens_per_step = settings["global_batch_size"] * context
    summary = train_on_windows(init, data, {**settings, "budget": {"max_steps": steps}}, 0, work / "out", work / "work", LOG,
                    log_every_seconds=1e9)
    real_per_step = tokens_per_step * stats["fill_ratio"]
    return {"seconds": summary["training_seconds"], "steps": summary["steps"], "real_tokens_per_step": real_per_step,
            "fill": stats["fill_ratio"]}


def run_reference(init: Path, documents, settings: dict, steps: int, work: Path) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, DataCollatorWithFlattening, Trainer, TrainerCallback, TrainingArguments

    context = settings["context_length"]
    chunks = [documents.tokens[start:min(start + context, end)].astype(np.int64).tolist()
              for start_doc, end in zip(documents.offsets[:-1], documents.offsets[1:])
              for start in range(int(start_doc), int(end), context)]
    dataset = Dataset.from_dict({"input_ids": chunks})
    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32, attn_implementation="sdpa")
    accumulation = settings["global_batch_size"] // settings["per_device_batch_size"]
    args = TrainingArguments(output_dir=str(work / "reference"), per_device_train_batch_size=settings["per_device_batch_size"],
                             gradient_accumulation_steps=accumulation, max_steps=steps, learning_rate=settings["learning_rate"],
                             lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr": settings["min_learning_rate"]},
                             warmup_steps=settings["warmup_ratio"], max_grad_norm=settings["max_grad_norm"], bf16=cuda,
                             use_cpu=not cuda, report_to=[], save_strategy="no", logging_steps=10**9, dataloader_num_workers=0,
                             disable_tqdm=True, seed=0)

    class StepClock(TrainerCallback):
        """Time in optimiser steps only, as this loop counts it."""
        seconds, tokens, started = 0.0, 0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            StepClock.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            StepClock.seconds += time.perf_counter() - StepClock.started

    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithFlattening(),
                      callbacks=[StepClock()])
    trainer.train()
    # The reference sees each batch of chunks once per micro-step; its real tokens per optimiser step
    # are the chunks' mean length times the chunks in a step.
    mean_chunk = float(np.mean([len(c) for c in chunks]))
    return {"seconds": StepClock.seconds, "steps": steps, "real_tokens_per_step": mean_chunk * settings["global_batch_size"],
            "fill": mean_chunk / context}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--per-device-batch-size", type=int, default=8)
    parser.add_argument("--global-batch-size", type=int, default=16)
    parser.add_argument("--mean-seconds", type=float, default=20.0, help="mean document length (20 units per second)")
    parser.add_argument("--data", help="a packed-windows folder of the workflow instead of synthetic documents")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM, Qwen2Config
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    settings = {"learning_rate": 1e-3, "min_learning_rate": 5e-5, "lr_scheduler": "cosine", "warmup_ratio": 0.01,
                "per_device_batch_size": args.per_device_batch_size, "global_batch_size": args.global_batch_size,
                "max_grad_norm": 0.5, "dtype": "bfloat16", "optimizer": "adamw", "context_length": args.context}
    documents = documents_from_windows(Path(args.data)) if args.data else \
        synthetic_documents(args.steps * args.global_batch_size * 4, args.mean_seconds * 20, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = Qwen2Config(vocab_size=502, max_position_embeddings=max(args.context, 1024), tie_word_embeddings=True,
                             rope_theta=10000.0, pad_token_id=0, bos_token_id=1, eos_token_id=1, **SIZES[args.size])
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(config).save_pretrained(tmp / "init")
        ours = run_ours(tmp / "init", documents, settings, args.steps, tmp / "ours")
        reference = run_reference(tmp / "init", documents, settings, args.steps, tmp)

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {args.threads} threads"
    print(f"{args.steps} optimiser steps, {args.size} Qwen2 model, context {args.context}, global batch "
          f"{args.global_batch_size} x per-device {args.per_device_batch_size}, on {device}")
    print(f"{'way':44s} {'tokens/s':>10s} {'tokens/step':>12s} {'fill':>6s}")
    rows = {}
    for name, result in (("this loop (packed windows)", ours), ("reference (Trainer + flattened chunks)", reference)):
        speed = result["real_tokens_per_step"] * result["steps"] / result["seconds"]
        rows[name] = {"tokens_per_second": round(speed, 1), "tokens_per_step": round(result["real_tokens_per_step"]),
                      "fill": round(result["fill"], 3)}
        print(f"{name:44s} {speed:10.0f} {result['real_tokens_per_step']:12.0f} {result['fill']:6.3f}")
    names = list(rows)
    print(f"ratio this/reference: {rows[names[0]]['tokens_per_second'] / rows[names[1]]['tokens_per_second']:.2f}x tokens per "
          f"second, {rows[names[0]]['tokens_per_step'] / rows[names[1]]['tokens_per_step']:.2f}x tokens per optimiser step")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
