"""Benchmark: this workflow's training engine against the official code's approach, fairly.

The same model (same initial weights, same shape), the same documents, the same machine; each way runs
in a process of its own, and the ways take turns (A B A B ...), so that a machine that warms up or
slows down does not favour one. Each run trains ``--warmup`` optimiser steps (compilation, allocator
warm-up), then ``--steps`` measured ones, and reports:

* real (non-padding) tokens per second of training, and tokens per optimiser step;
* MFU: 6 FLOPs per parameter and real token plus attention inside the documents (12 x hidden per
  layer and (query, key) pair), over the GPU's dense bf16 peak;
* peak GPU memory.

The ways:

* ``engine``: this workflow's engine (``slamming.pretraining.train_on_windows``): documents packed
  end to end into full windows, attention kept inside each document by the fastest kernel the machine
  has (``attention: auto``), the transformer blocks compiled on a GPU, bf16 autocast;
* ``engine_eager``: the same without torch.compile, to show what compiling buys;
* ``official``: the official code's approach - Hugging Face ``Trainer`` with ``DataCollatorWithFlattening``
  over chunks (each document cut to the context, each micro-batch's chunks laid into one row with
  restarting positions), bf16 autocast, attention per document by the same kernel family: flash-attn's
  varlen kernels where installed, else Hugging Face's FlexAttention (on a GPU) or SDPA with a document
  mask (on a CPU), both of which it builds from the positions.

Both take the recipe's step: the official 8 x 16 chunks per step (about 60 % full), the engine the
whole windows that carry about as many tokens.

Command line::

    python -m benchmarking.training                   # CPU, a tiny model: a minute
    python -m benchmarking.training --gpu             # one GPU, Qwen2.5-0.5B's shape: about 5 minutes on an H100
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
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
WAYS = ("engine", "engine_eager", "official")


def synthetic_documents(n: int, mean_tokens: float, seed: int) -> list[np.ndarray]:
    """Unit documents (BOS units EOS) with lengths like Libri-Light's VAD chunks (log-normal)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(mean_tokens), 0.5, size=n), 8, 4 * mean_tokens).astype(int)
    return [np.concatenate([[1], rng.integers(2, 502, size=length), [1]]).astype(np.int64) for length in lengths]


def attention_flops(lengths, layers: int, hidden: int) -> float:
    lengths = np.asarray(lengths, dtype=np.float64)
    return 12.0 * layers * hidden * float((lengths * (lengths + 1) / 2).sum())


def peak_flops() -> float | None:
    from slamming.engine import peak_flops as peak

    return peak(torch.device("cuda")) if torch.cuda.is_available() else None


# --- one run of one way (in a process of its own) ------------------------------------------------

def run_engine(init: Path, documents: list[np.ndarray], settings: dict, work: Path, compile_setting) -> dict:
    from slamming.packing import Documents, mix_order, pack
    from slamming.pretraining import train_on_windows

    context = settings["context_length"]
    docs = Documents(np.concatenate(documents).astype(np.uint16), np.concatenate([[0], np.cumsum([len(d) for d in documents])]))
    windows = -(-int(docs.offsets[-1]) // context)
    data = work / "windows"
    data.mkdir(parents=True)
    tokens, segments = np.zeros((windows, context), np.uint16), np.zeros((windows, context), np.uint16)
    stats = pack([docs], mix_order([len(docs)], [1.0], 0), context, tokens, segments, np.zeros(windows, bool), 0)
    for split in ("train", "valid"):
        np.save(data / f"{split}_tokens.npy", tokens if split == "train" else tokens[:1])
        np.save(data / f"{split}_segments.npy", segments if split == "train" else segments[:1])
    steps = settings["warmup"] + settings["steps"]
    run = {**settings, "compile": compile_setting, "budget": {"max_steps": steps}}
    summary = train_on_windows(init, data, run, 0, work / "out", work / "work", LOG, log_every_steps=1)
    import csv

    rows = [r for r in csv.DictReader(open(work / "out" / "training_log.csv")) if r["split"] == "train"]
    measured = rows[settings["warmup"]:]
    seconds = float(measured[-1]["elapsed_seconds"]) - float(rows[settings["warmup"] - 1]["elapsed_seconds"])
    real_per_step = settings["global_batch_size"] * context * stats["fill_ratio"]
    mfus = [float(r["mfu"]) for r in measured if r["mfu"]]
    return {"seconds": seconds, "steps": len(measured), "real_tokens_per_step": real_per_step,
            "mfu": float(np.mean(mfus)) if mfus else None, "attention": summary["attention"]}


def run_official(init: Path, documents: list[np.ndarray], settings: dict, work: Path) -> dict:
    import importlib.util

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, DataCollatorWithFlattening, Trainer, TrainerCallback, TrainingArguments

    context, cuda = settings["context_length"], torch.cuda.is_available()
    chunks = [d[start:start + context].tolist() for d in documents for start in range(0, len(d), context)]
    attention = "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") else ("flex_attention" if cuda else "sdpa")
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32, attn_implementation=attention)
    steps, warmup = settings["steps"], settings["warmup"]
    accumulation = settings["official_chunks_per_step"] // settings["per_device_batch_size"]
    args = TrainingArguments(output_dir=str(work / "trainer"), per_device_train_batch_size=settings["per_device_batch_size"],
                             gradient_accumulation_steps=accumulation, max_steps=warmup + steps,
                             learning_rate=settings["learning_rate"], lr_scheduler_type="cosine_with_min_lr",
                             lr_scheduler_kwargs={"min_lr": settings["min_learning_rate"]}, warmup_steps=0.01,
                             max_grad_norm=settings["max_grad_norm"], bf16=cuda, use_cpu=not cuda, report_to=[],
                             save_strategy="no", logging_steps=10**9, dataloader_num_workers=0, disable_tqdm=True, seed=0)

    class StepClock(TrainerCallback):
        """Time in the measured optimiser steps, as the engine counts it."""
        seconds, started = 0.0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            StepClock.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            if state.global_step > warmup:
                StepClock.seconds += time.perf_counter() - StepClock.started

    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"input_ids": chunks}),
                      data_collator=DataCollatorWithFlattening(), callbacks=[StepClock()])
    trainer.train()
    lengths = np.array([len(c) for c in chunks])
    real_per_step = float(lengths.mean()) * settings["official_chunks_per_step"]
    peak, config = peak_flops(), model.config
    mfu = None
    if peak:
        parameters = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        per_token = 6 * parameters + attention_flops(lengths, config.num_hidden_layers, config.hidden_size) / lengths.sum()
        mfu = per_token * real_per_step * steps / StepClock.seconds / peak
    return {"seconds": StepClock.seconds, "steps": steps, "real_tokens_per_step": real_per_step, "mfu": mfu,
            "attention": attention}


def worker(args) -> int:
    settings = json.loads(args.settings)
    documents = [np.asarray(d) for d in json.loads(Path(args.documents).read_text())]
    torch.set_num_threads(args.threads)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        if args.worker == "official":
            result = run_official(Path(args.init), documents, settings, Path(tmp))
        else:
            result = run_engine(Path(args.init), documents, settings, Path(tmp), compile_setting="auto" if args.worker == "engine" else False)
    result["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    Path(args.out).write_text(json.dumps(result))
    return 0


# --- the comparison ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="Qwen2.5-0.5B's shape at Table 4's batch, on the GPU")
    parser.add_argument("--size", choices=sorted(SIZES), help="the model's shape (default tiny, slam with --gpu)")
    parser.add_argument("--context", type=int, help="default 256 (1024 with --gpu)")
    parser.add_argument("--per-device-batch-size", type=int, help="default 4 (8 with --gpu)")
    parser.add_argument("--official-chunks", type=int, help="chunks per optimiser step, the official way (default 16; "
                                                            "128 with --gpu: Table 4's 8 x 16)")
    parser.add_argument("--steps", type=int, help="measured optimiser steps per run (default 6; 8 with --gpu)")
    parser.add_argument("--warmup", type=int, default=2, help="optimiser steps before the clock starts")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each way, taking turns")
    parser.add_argument("--ways", nargs="+", choices=WAYS, help="default all three on a GPU, engine and official on a CPU")
    parser.add_argument("--mean-tokens", type=float, default=400.0, help="mean document length (20 s of speech)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--init", help=argparse.SUPPRESS)
    parser.add_argument("--documents", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.worker:
        return worker(args)

    size = args.size or ("slam" if args.gpu else "tiny")
    context = args.context or (1024 if args.gpu else 256)
    per_device = args.per_device_batch_size or (8 if args.gpu else 4)
    official_chunks = args.official_chunks or (128 if args.gpu else 16)
    steps = args.steps or (8 if args.gpu else 6)
    ways = args.ways or (list(WAYS) if args.gpu else ["engine", "official"])
    documents = synthetic_documents(4 * (args.warmup + steps) * official_chunks, args.mean_tokens, seed=0)
    # The engine's step: whole windows carrying about what the official step's chunks carry.
    chunk_fill = np.mean([min(len(d) - s, context) for d in documents for s in range(0, len(d), context)]) / context
    windows = max(1, round(official_chunks * chunk_fill / per_device)) * per_device
    settings = {"learning_rate": 1e-3, "min_learning_rate": 5e-5, "lr_scheduler": "cosine", "warmup_ratio": 0.01,
                "per_device_batch_size": per_device, "global_batch_size": windows, "official_chunks_per_step": official_chunks,
                "max_grad_norm": 0.5, "dtype": "bfloat16", "optimizer": "adamw", "context_length": context,
                "attention": "auto", "steps": steps, "warmup": args.warmup}
    from transformers import AutoModelForCausalLM, Qwen2Config

    results: dict[str, list[dict]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = Qwen2Config(vocab_size=502, max_position_embeddings=max(context, 1024), tie_word_embeddings=True,
                             rope_theta=10000.0, pad_token_id=0, bos_token_id=1, eos_token_id=1, **SIZES[size])
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(config).save_pretrained(tmp / "init")
        (tmp / "documents.json").write_text(json.dumps([d.tolist() for d in documents]))
        for repeat in range(args.repeats):
            for way in ways:  # A B A B: each way's runs spread over the whole benchmark
                out = tmp / f"{way}_{repeat}.json"
                command = [sys.executable, "-m", "benchmarking.training", "--worker", way, "--init", str(tmp / "init"),
                           "--documents", str(tmp / "documents.json"), "--settings", json.dumps(settings), "--out", str(out),
                           "--threads", str(args.threads)]
                started = time.perf_counter()
                finished = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
                if finished.returncode != 0:
                    print(finished.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"error: the {way} run failed (above)")
                results[way].append(json.loads(out.read_text()))
                print(f"run {repeat + 1}/{args.repeats} {way}: {time.perf_counter() - started:.0f} s", file=sys.stderr)

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {args.threads} threads"
    parameters = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    print(f"{size} Qwen2 model ({parameters / 1e6:.2f}M parameters), context {context}, on {device}; {steps} measured optimiser "
          f"steps after {args.warmup} per run, {args.repeats} runs per way taken in turns")
    print(f"{'way':14s} {'tokens/s':>18s} {'tokens/step':>12s} {'MFU':>8s} {'peak GB':>8s}  attention")
    summary = {}
    for way, runs in results.items():
        speeds = [r["real_tokens_per_step"] * r["steps"] / r["seconds"] for r in runs]
        mfus = [r["mfu"] for r in runs if r["mfu"] is not None]
        summary[way] = {"tokens_per_second": float(np.mean(speeds)), "spread": float(np.max(speeds) - np.min(speeds)),
                        "tokens_per_step": float(np.mean([r["real_tokens_per_step"] for r in runs])),
                        "mfu": float(np.mean(mfus)) if mfus else None,
                        "peak_memory_gb": max((r["peak_memory_gb"] or 0) for r in runs) or None,
                        "attention": runs[0].get("attention")}
        row = summary[way]
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "-"
        memory = f"{row['peak_memory_gb']:.1f}" if row["peak_memory_gb"] else "-"
        print(f"{way:14s} {row['tokens_per_second']:10.0f} +-{row['spread'] / 2:6.0f} {row['tokens_per_step']:12.0f} {mfu:>8s} "
              f"{memory:>8s}  {row['attention']}")
    if "engine" in summary and "official" in summary:
        print(f"engine / official: {summary['engine']['tokens_per_second'] / summary['official']['tokens_per_second']:.2f}x tokens "
              f"per second")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
