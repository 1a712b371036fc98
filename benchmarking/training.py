"""Benchmark: this workflow's training engine against the official code's approach, fairly.

The same model (same initial weights, same shape), the same documents, the same machine, the same
precision; each way runs in a process of its own, and the ways take turns (A B A B ...), so that a
machine that warms up or slows down does not favour one. Each run trains ``--warmup`` optimiser steps
(compilation, allocator warm-up), then ``--steps`` measured ones, and reports:

* real (non-padding) tokens per second of training, and tokens per optimiser step;
* MFU: 6 FLOPs per parameter and real token plus attention inside the documents (12 x hidden per
  layer and (query, key) pair), over the GPU's dense bf16 peak;
* peak GPU memory.

The ways:

* ``engine``: this workflow's engine (``slamming.training.pretraining.train_on_windows``): documents packed
  end to end into full windows, attention kept inside each document by the fastest kernel the machine
  has (``attention: auto``), the transformer blocks compiled on a GPU;
* ``engine_eager``: the same without torch.compile, to show what compiling buys;
* ``engine_chunks``: this workflow's engine with ``packing: official``: the official code's chunks
  (each document cut to the context), the official way's chunks per step, each micro-batch's chunks
  laid end to end in one row - the same batches as ``official``, through the engine; beside
  ``engine`` it measures what the official packing costs against full windows at about equal tokens;
* ``official``: the official code's approach - Hugging Face ``Trainer`` with ``DataCollatorWithFlattening``
  over chunks (each document cut to the context, each micro-batch's chunks laid into one row with
  restarting positions), attention per document by the same kernel family: flash-attn's
  varlen kernels where installed, else Hugging Face's FlexAttention (on a GPU) or SDPA with a document
  mask (on a CPU), both of which it builds from the positions.

Both take the recipe's step: the official 8 x 16 chunks per step (about 60 % full), the engine the
whole windows that carry about as many tokens.

``--attention`` runs each engine way under each attention path named (``auto``, or one of
``slamming.training.attention.PATHS``), as ways of their own in the same turns, e.g. the dense mask against
what ``auto`` takes on this machine; the row names the path (``engine_chunks/sdpa_mask``).

Both train at the same precision (``--precision``), each in its own terms:

* ``pure`` (the default where the hardware computes in bfloat16: a GPU, or a CPU with bfloat16
  instructions): weights and AdamW states in bfloat16, as the official code trains - the engine's
  ``dtype: bfloat16, precision: pure``; the official way's model loaded in bfloat16, ``bf16=True``;
* ``mixed``: bfloat16 autocast over float32 weights and AdamW states - the engine's
  ``dtype: bfloat16, precision: mixed``; the official way's model in float32, ``bf16=True``;
* ``float32`` (the default on a CPU without bfloat16 instructions, which would emulate bfloat16 at
  several times float32's cost): the engine's ``dtype: float32``; the official way's model in
  float32, ``bf16=False``.

The header names the device, the precision and whether the CPU has bfloat16 instructions; each way's
row, the precision its run reports.

Command line::

    python -m benchmarking.training                   # CPU, a tiny model: a minute
    python -m benchmarking.training --gpu             # one GPU, Qwen2.5-0.5B's shape: about 5 minutes on an H100
    python -m benchmarking.training --gpu --precision mixed   # the same under bfloat16 autocast
    # the demo's pretraining on 2 CPU cores: official packing against windows, dense mask against auto
    python -m benchmarking.training --demo --attention sdpa_mask auto --repeats 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

LOG = logging.getLogger("benchmark_training")

SIZES = {  # Qwen2 shapes; slam is Qwen2.5-0.5B's (358M parameters with the speech vocabulary)
    "demo": {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4, "num_attention_heads": 4,
             "num_key_value_heads": 2},  # config.yaml's demo_text_lm, the demo speech LM's shape
    "tiny": {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2},
    "small": {"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4, "num_attention_heads": 4,
              "num_key_value_heads": 2},
    "slam": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2},
}
WAYS = ("engine", "engine_eager", "engine_chunks", "official")
PRECISIONS = ("pure", "mixed", "float32")
BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 (AVX-512 BF16, AMX), AArch64 (FEAT_BF16)


def cpu_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes in bfloat16 in hardware: x86's ``avx512_bf16`` or ``amx_bf16`` flag,
    AArch64's ``bf16`` feature, as Linux lists them in /proc/cpuinfo (``cpuinfo``, its text, for a
    test); on macOS, the ``hw.optional.arm.FEAT_BF16`` sysctl. Without them PyTorch emulates bfloat16
    on a CPU, converting to and from float32 around each operation: several times slower than float32
    itself, so a bfloat16 run there measures the emulation, not the training."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            if platform.system() != "Darwin":
                return False
            found = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, check=False)
            return found.returncode == 0 and found.stdout.strip() == "1"
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features") and BF16_CPU_FLAGS & set(value.split()):
            return True
    return False


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo or the platform gives it."""
    fallback = platform.processor() or platform.machine() or "unknown CPU"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: the platform's name is all there is
        return fallback
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return fallback


def default_precision(cuda: bool, cuda_bfloat16: bool, cpu_has_bfloat16: bool) -> str:
    """The official recipe's pure bfloat16 where the device computes in bfloat16; float32 elsewhere
    (a GPU without bfloat16, a CPU without bfloat16 instructions)."""
    return "pure" if (cuda_bfloat16 if cuda else cpu_has_bfloat16) else "float32"


def engine_precision(precision: str) -> dict:
    """The engine's settings for a precision (see ``slamming.training.engine.Precision``)."""
    if precision == "float32":
        return {"dtype": "float32"}
    return {"dtype": "bfloat16", "precision": precision}


def official_precision(precision: str) -> tuple[torch.dtype, bool]:
    """The official way's precision: the dtype its model is loaded in (which its AdamW states take)
    and ``TrainingArguments.bf16`` (bfloat16 autocast)."""
    return {"pure": (torch.bfloat16, True), "mixed": (torch.float32, True), "float32": (torch.float32, False)}[precision]


def describe_precision(weights: torch.dtype, autocast: bool) -> str:
    """A precision in the engine's words (``Precision.describe``)."""
    weights_name = str(weights).replace("torch.", "")
    return f"bfloat16 autocast over {weights_name} weights" if autocast else weights_name


def synthetic_documents(n: int, mean_tokens: float, seed: int) -> list[np.ndarray]:
    """Unit documents (BOS units EOS) with lengths like Libri-Light's VAD chunks (log-normal)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(mean_tokens), 0.5, size=n), 8, 4 * mean_tokens).astype(int)
    return [np.concatenate([[1], rng.integers(2, 502, size=length), [1]]).astype(np.int64) for length in lengths]


def attention_flops(lengths, layers: int, hidden: int) -> float:
    lengths = np.asarray(lengths, dtype=np.float64)
    return 12.0 * layers * hidden * float((lengths * (lengths + 1) / 2).sum())


def peak_flops() -> float | None:
    from slamming.training.engine import peak_flops as peak

    return peak(torch.device("cuda")) if torch.cuda.is_available() else None


# --- one run of one way (in a process of its own) ------------------------------------------------

def run_engine(init: Path, documents: list[np.ndarray], settings: dict, work: Path, compile_setting, chunks: bool = False) -> dict:
    """The engine on full windows, or (``chunks``) with ``packing: official`` on the official code's chunks."""
    from slamming.units.packing import Documents, chunk, mix_order, pack
    from slamming.training.pretraining import train_on_windows

    context = settings["context_length"]
    docs = Documents(np.concatenate(documents).astype(np.uint16), np.concatenate([[0], np.cumsum([len(d) for d in documents])]))
    data = work / "packed"
    data.mkdir(parents=True)
    if chunks:
        tokens = np.zeros(int(docs.offsets[-1]), np.uint16)
        offsets, stats = chunk([docs], mix_order([len(docs)], [1.0], 0), context, tokens)
        np.save(data / "train_chunk_tokens.npy", tokens)
        np.save(data / "train_chunk_offsets.npy", offsets)
        np.save(data / "valid_chunk_tokens.npy", tokens[:offsets[1]])
        np.save(data / "valid_chunk_offsets.npy", offsets[:2])
        run = {**settings, "packing": "official", "global_batch_size": settings["official_chunks_per_step"]}
    else:
        windows = -(-int(docs.offsets[-1]) // context)
        tokens, segments = np.zeros((windows, context), np.uint16), np.zeros((windows, context), np.uint16)
        stats = pack([docs], mix_order([len(docs)], [1.0], 0), context, tokens, segments, np.zeros(windows, bool), 0)
        for split in ("train", "valid"):
            np.save(data / f"{split}_tokens.npy", tokens if split == "train" else tokens[:1])
            np.save(data / f"{split}_segments.npy", segments if split == "train" else segments[:1])
        run = {**settings, "packing": "windows"}
    steps = settings["warmup"] + settings["steps"]
    run = {**run, "compile": compile_setting, "budget": {"max_steps": steps}}
    summary = train_on_windows(init, data, run, 0, work / "out", work / "work", LOG, log_every_steps=1)
    import csv

    with open(work / "out" / "training_log.csv") as log:
        rows = [r for r in csv.DictReader(log) if r["split"] == "train"]
    measured = rows[settings["warmup"]:]
    seconds = float(measured[-1]["elapsed_seconds"]) - float(rows[settings["warmup"] - 1]["elapsed_seconds"])
    if chunks:  # the engine counts each step's real tokens
        real_per_step = (int(measured[-1]["tokens"]) - int(rows[settings["warmup"] - 1]["tokens"])) / len(measured)
    else:
        real_per_step = settings["global_batch_size"] * context * stats["fill_ratio"]
    mfus = [float(r["mfu"]) for r in measured if r["mfu"]]
    return {"seconds": seconds, "steps": len(measured), "real_tokens_per_step": real_per_step,
            "mfu": float(np.mean(mfus)) if mfus else None, "attention": summary["attention"], "precision": summary["precision"]}


def run_official(init: Path, documents: list[np.ndarray], settings: dict, work: Path) -> dict:
    import importlib.util

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, DataCollatorWithFlattening, Trainer, TrainerCallback, TrainingArguments

    context, cuda = settings["context_length"], torch.cuda.is_available()
    chunks = [d[start:start + context].tolist() for d in documents for start in range(0, len(d), context)]
    attention = "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") else ("flex_attention" if cuda else "sdpa")
    weights, bf16 = official_precision(settings["benchmark_precision"])
    model = AutoModelForCausalLM.from_pretrained(init, dtype=weights, attn_implementation=attention)
    steps, warmup = settings["steps"], settings["warmup"]
    accumulation = settings["official_chunks_per_step"] // settings["per_device_batch_size"]
    args = TrainingArguments(output_dir=str(work / "trainer"), per_device_train_batch_size=settings["per_device_batch_size"],
                             gradient_accumulation_steps=accumulation, max_steps=warmup + steps,
                             learning_rate=settings["learning_rate"], lr_scheduler_type="cosine_with_min_lr",
                             lr_scheduler_kwargs={"min_lr": settings["min_learning_rate"]}, warmup_steps=0.01,
                             max_grad_norm=settings["max_grad_norm"], bf16=bf16, use_cpu=not cuda, report_to=[],
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
    # What it really trained at: the weights' dtype (and so the AdamW states') and the autocast it ran under.
    states = [s["exp_avg"].dtype for s in trainer.optimizer.state.values() if "exp_avg" in s]
    assert all(dtype == weights for dtype in states) and next(model.parameters()).dtype == weights, (states, weights)
    autocast = trainer.accelerator.mixed_precision == "bf16"
    lengths = np.array([len(c) for c in chunks])
    real_per_step = float(lengths.mean()) * settings["official_chunks_per_step"]
    peak, config = peak_flops(), model.config
    mfu = None
    if peak:
        parameters = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        per_token = 6 * parameters + attention_flops(lengths, config.num_hidden_layers, config.hidden_size) / lengths.sum()
        mfu = per_token * real_per_step * steps / StepClock.seconds / peak
    return {"seconds": StepClock.seconds, "steps": steps, "real_tokens_per_step": real_per_step, "mfu": mfu,
            "attention": attention, "precision": describe_precision(weights, autocast)}


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
            result = run_engine(Path(args.init), documents, settings, Path(tmp),
                                compile_setting=False if args.worker == "engine_eager" else "auto",
                                chunks=args.worker == "engine_chunks")
    result["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    Path(args.out).write_text(json.dumps(result))
    return 0


# --- the comparison ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="Qwen2.5-0.5B's shape at Table 4's batch, on the GPU")
    parser.add_argument("--demo", action="store_true",
                        help="the demo's pretraining: its model's shape, context 512, 8 chunks per device, 56 chunks (or 16 "
                             "windows) per step, chunks of ~145 tokens; ways engine and engine_chunks")
    parser.add_argument("--size", choices=sorted(SIZES), help="the model's shape (default tiny, slam with --gpu, demo with --demo)")
    parser.add_argument("--context", type=int, help="default 256 (1024 with --gpu)")
    parser.add_argument("--per-device-batch-size", type=int, help="default 4 (8 with --gpu)")
    parser.add_argument("--official-chunks", type=int, help="chunks per optimiser step, the official way (default 16; "
                                                            "128 with --gpu: Table 4's 8 x 16)")
    parser.add_argument("--steps", type=int, help="measured optimiser steps per run (default 6; 8 with --gpu)")
    parser.add_argument("--warmup", type=int, default=2, help="optimiser steps before the clock starts")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each way, taking turns")
    parser.add_argument("--ways", nargs="+", choices=WAYS, help="default all three on a GPU, engine and official on a CPU")
    parser.add_argument("--mean-tokens", type=float, help="median document length (default 400: 20 s of speech; 125 with "
                                                          "--demo, whose chunks then average ~145 tokens)")
    parser.add_argument("--attention", nargs="+", default=["auto"],
                        help="the engine ways' attention path(s): auto, or any of slamming.training.attention.PATHS; each a way of its own")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="both ways' precision: pure (bfloat16 weights and AdamW states, the official recipe's), "
                             "mixed (bfloat16 autocast over float32) or float32; default pure on a GPU and on a CPU with "
                             "bfloat16 instructions, float32 on other CPUs")
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

    size = args.size or ("slam" if args.gpu else "demo" if args.demo else "tiny")
    context = args.context or (1024 if args.gpu else 512 if args.demo else 256)
    per_device = args.per_device_batch_size or (8 if args.gpu or args.demo else 4)
    official_chunks = args.official_chunks or (128 if args.gpu else 56 if args.demo else 16)
    steps = args.steps or (8 if args.gpu else 6)
    mean_tokens = args.mean_tokens or (125.0 if args.demo else 400.0)
    ways = args.ways or (list(WAYS) if args.gpu else ["engine", "engine_chunks"] if args.demo else ["engine", "official"])
    from slamming.training.attention import PATHS

    for path in args.attention:
        if path != "auto" and path not in PATHS:
            parser.error(f"--attention {path}: not auto or one of {', '.join(PATHS)}")
    # (label, worker, attention): each engine way under each attention path; the official way as it is
    runs = [(way if len(args.attention) == 1 or way == "official" else f"{way}/{path}", way, path)
            for way in ways for path in (["auto"] if way == "official" else args.attention)]
    cuda = torch.cuda.is_available()
    cuda_bfloat16, cpu_has_bfloat16 = cuda and torch.cuda.is_bf16_supported(), cpu_bfloat16()
    precision = args.precision or default_precision(cuda, cuda_bfloat16, cpu_has_bfloat16)
    if cuda and not cuda_bfloat16 and precision != "float32":
        parser.error(f"--precision {precision}: this GPU has no bfloat16; use float32")
    documents = synthetic_documents(4 * (args.warmup + steps) * official_chunks, mean_tokens, seed=0)
    # The engine's step: whole windows carrying about what the official step's chunks carry.
    chunk_fill = np.mean([min(len(d) - s, context) for d in documents for s in range(0, len(d), context)]) / context
    windows = max(1, round(official_chunks * chunk_fill / per_device)) * per_device
    from slamming.workflow.config import with_defaults

    # Pretraining's settings as a run has them (run_defaults), on full windows.
    settings = with_defaults("run.pretrain", {
        "learning_rate": 1e-3, "min_learning_rate": 5e-5, "lr_scheduler": "cosine", "warmup_ratio": 0.01,
        "per_device_batch_size": per_device, "global_batch_size": windows, "official_chunks_per_step": official_chunks,
        "max_grad_norm": 0.5, "optimizer": "adamw", "context_length": context, "attention": "auto", "packing": "windows",
        "steps": steps, "warmup": args.warmup, "benchmark_precision": precision, **engine_precision(precision)})
    settings.pop("validate_every_minutes")  # no validation inside the timed steps
    from transformers import AutoModelForCausalLM, Qwen2Config

    results: dict[str, list[dict]] = {label: [] for label, _, _ in runs}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = Qwen2Config(vocab_size=502, max_position_embeddings=max(context, 1024), tie_word_embeddings=True,
                             rope_theta=10000.0, pad_token_id=0, bos_token_id=1, eos_token_id=1, **SIZES[size])
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(config).save_pretrained(tmp / "init")
        (tmp / "documents.json").write_text(json.dumps([d.tolist() for d in documents]))
        for repeat in range(args.repeats):
            for label, way, path in runs:  # A B A B: each way's runs spread over the whole benchmark
                out = tmp / f"{label.replace('/', '_')}_{repeat}.json"
                command = [sys.executable, "-m", "benchmarking.training", "--worker", way, "--init", str(tmp / "init"),
                           "--documents", str(tmp / "documents.json"), "--settings", json.dumps({**settings, "attention": path}),
                           "--out", str(out), "--threads", str(args.threads)]
                started = time.perf_counter()
                finished = subprocess.run(command, capture_output=True, text=True, check=False,
                                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
                if finished.returncode != 0:
                    print(finished.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"error: the {label} run failed (above)")
                results[label].append(json.loads(out.read_text()))
                speed = results[label][-1]["real_tokens_per_step"] * results[label][-1]["steps"] / results[label][-1]["seconds"]
                print(f"run {repeat + 1}/{args.repeats} {label}: {time.perf_counter() - started:.0f} s, {speed:.0f} tokens/s",
                      file=sys.stderr)

    device = torch.cuda.get_device_name() if cuda else f"CPU ({cpu_name()}), {args.threads} threads"
    parameters = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    print(f"{size} Qwen2 model ({parameters / 1e6:.2f}M parameters), context {context}, on {device}; {steps} measured optimiser "
          f"steps after {args.warmup} per run, {args.repeats} runs per way taken in turns")
    emulated = " (emulated: slow)" if not cuda and precision != "float32" and not cpu_has_bfloat16 else ""
    print(f"precision, both ways: {precision}{emulated}; CPU bfloat16 instructions: {'yes' if cpu_has_bfloat16 else 'no'}")
    width = max(14, *(len(label) for label in results))
    print(f"{'way':{width}s} {'tokens/s':>18s} {'tokens/step':>12s} {'MFU':>8s} {'peak GB':>8s}  {'attention':18s} precision")
    summary = {}
    for way, runs in results.items():
        speeds = [r["real_tokens_per_step"] * r["steps"] / r["seconds"] for r in runs]
        mfus = [r["mfu"] for r in runs if r["mfu"] is not None]
        summary[way] = {"tokens_per_second": float(np.mean(speeds)), "spread": float(np.max(speeds) - np.min(speeds)),
                        "tokens_per_step": float(np.mean([r["real_tokens_per_step"] for r in runs])),
                        "mfu": float(np.mean(mfus)) if mfus else None,
                        "peak_memory_gb": max((r["peak_memory_gb"] or 0) for r in runs) or None,
                        "attention": runs[0].get("attention"), "precision": runs[0].get("precision")}
        row = summary[way]
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "-"
        memory = f"{row['peak_memory_gb']:.1f}" if row["peak_memory_gb"] else "-"
        print(f"{way:{width}s} {row['tokens_per_second']:10.0f} +-{row['spread'] / 2:6.0f} {row['tokens_per_step']:12.0f} {mfu:>8s} "
              f"{memory:>8s}  {row['attention']:18s} {row['precision']}")
    for chunked, whole in ((label, label.replace("engine_chunks", "engine", 1)) for label in summary
                           if label.startswith("engine_chunks")):
        if whole in summary:
            print(f"{chunked} / {whole}: {summary[chunked]['tokens_per_second'] / summary[whole]['tokens_per_second']:.2f}x "
                  f"tokens per second")
    if "engine" in summary and "official" in summary:
        print(f"engine / official: {summary['engine']['tokens_per_second'] / summary['official']['tokens_per_second']:.2f}x tokens "
              f"per second")
    print(json.dumps({"device": device, "precision": precision, "cpu_bfloat16": cpu_has_bfloat16, "ways": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
