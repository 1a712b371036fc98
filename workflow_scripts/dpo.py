"""Preference optimisation (DPO) of a pretrained speech LM on spoken preference triples (Table 5).

Data: a corpus whose utterances are ``<pair>_prompt``, ``<pair>_chosen`` and ``<pair>_rejected``, and
its pairs table (id, prompt, chosen, rejected texts). A pair is dropped when the text of its chosen or
rejected continuation has bigram auto-BLEU at or above ``max_auto_bleu`` (repetitive), or when one
of its three recordings has no units. Each pair becomes ``BOS prompt`` + ``chosen EOS`` /
``rejected EOS`` in tokens; a pair longer than the context keeps its start (its completion is cut).

Loss: the sigmoid DPO loss, -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), over log-
probabilities summed over the completion tokens. The reference model's log-probabilities are
computed once, before training, with the starting weights: no second model is held in memory.

The loop is pretrain.py's: budget in hours or epochs, the recipe's schedule (inverse square root in
Table 5), global batch kept over processes by gradient accumulation, bf16 autocast on GPU,
checkpoints and resume.

Command line::

    python -m workflow_scripts.dpo --init results/models/demo/pretrained \\
        --units results/units/demo_hubert_km100/demo_swag/units.parquet --pairs results/text/demo/swag.parquet \\
        --settings '{"beta": 0.1, ...}' --seed 0 --out results/models/demo/dpo
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
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from workflow_scripts.autobleu import auto_bleu
from workflow_scripts.logs import setup_stage
from workflow_scripts.speech_lm import load_vocabulary
from workflow_scripts.training import (Budget, CsvLog, EpochOrder, all_sum, compute_dtype, gradient_accumulation,
                                       learning_rate, load_checkpoint, make_optimizer, optimiser_step, save_checkpoint,
                                       save_model, settings_hash, slowest, start_processes, unwrap)

log = logging.getLogger("dpo")

LOG_COLUMNS = ["step", "loss", "reward_accuracy", "reward_margin", "learning_rate", "pairs", "tokens",
               "tokens_per_second", "elapsed_seconds"]
PARTS = ("prompt", "chosen", "rejected")


def load_triples(units_path: str | Path, pairs_path: str | Path, vocabulary, context: int, max_auto_bleu: float):
    """Token triples {id, prompt_ids, chosen_ids, rejected_ids} and a report of what was dropped and why."""
    units = {r["id"]: r["units"] for r in pq.read_table(units_path, columns=["id", "units"]).to_pylist()}
    pairs = pq.read_table(pairs_path).to_pylist()
    triples, dropped = [], {"repetitive": 0, "missing_audio": 0, "prompt_too_long": 0}
    for pair in pairs:
        if max(auto_bleu(pair["chosen"]), auto_bleu(pair["rejected"])) >= max_auto_bleu:
            dropped["repetitive"] += 1
            continue
        ids = {part: f"{pair['id']}_{part}" for part in PARTS}
        if any(units.get(i) is None for i in ids.values()):
            dropped["missing_audio"] += 1
            continue
        prompt = [vocabulary.bos_id, *vocabulary.tokens(units[ids["prompt"]]).tolist()]
        if len(prompt) >= context:
            dropped["prompt_too_long"] += 1
            continue
        room = context - len(prompt)
        triples.append({"id": pair["id"], "prompt_ids": prompt,
                        "chosen_ids": [*vocabulary.tokens(units[ids["chosen"]]).tolist(), vocabulary.eos_id][:room],
                        "rejected_ids": [*vocabulary.tokens(units[ids["rejected"]]).tolist(), vocabulary.eos_id][:room]})
    return triples, {"pairs": len(pairs), "kept": len(triples), "dropped": dropped}


def collate(triples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Chosen sequences then rejected ones, right-padded, with the mask of completion tokens."""
    sequences = [t["prompt_ids"] + t["chosen_ids"] for t in triples] + [t["prompt_ids"] + t["rejected_ids"] for t in triples]
    completions = [[0] * len(t["prompt_ids"]) + [1] * len(t[key]) for key in ("chosen_ids", "rejected_ids") for t in triples]
    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    completion_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, (sequence, completion) in enumerate(zip(sequences, completions)):
        input_ids[i, :len(sequence)] = torch.tensor(sequence)
        attention_mask[i, :len(sequence)] = 1
        completion_mask[i, :len(sequence)] = torch.tensor(completion)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "completion_mask": completion_mask}


def completion_logps(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Log-probability of each sequence's completion tokens, summed: shape (2 x pairs,)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    logps = torch.gather(F.log_softmax(logits[:, :-1].float(), dim=-1), 2, batch["input_ids"][:, 1:, None])[..., 0]
    return (logps * batch["completion_mask"][:, 1:]).sum(dim=1)


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float):
    """Per-pair sigmoid DPO loss and the implicit rewards."""
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    return -F.logsigmoid(chosen_rewards - rejected_rewards), chosen_rewards, rejected_rewards


@torch.no_grad()
def reference_logps(model, triples: list[dict], batch_size: int, pad_id: int, device, dtype) -> np.ndarray:
    """(pairs, 2) completion log-probabilities of the starting model: the DPO reference."""
    from tqdm import tqdm

    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    model.eval()
    out = np.zeros((len(triples), 2), dtype=np.float64)
    for first in tqdm(range(0, len(triples), batch_size), desc="reference log-probs", file=sys.stderr):
        chunk = triples[first:first + batch_size]
        batch = {k: v.to(device) for k, v in collate(chunk, pad_id).items()}
        with autocast:
            logps = completion_logps(model, batch).double().cpu().numpy()
        out[first:first + len(chunk), 0], out[first:first + len(chunk), 1] = logps[:len(chunk)], logps[len(chunk):]
    model.train()
    return out


def train(init: Path, units: Path, pairs: Path, settings: dict, seed: int, out: Path, work: Path,
          clock=time.perf_counter, checkpoint_every_steps: int | None = None, log_every_seconds: float = 10.0) -> dict:
    from transformers import AutoModelForCausalLM

    processes, device = start_processes(log)
    torch.manual_seed(seed)
    vocabulary = load_vocabulary(init)
    triples, report = load_triples(units, pairs, vocabulary, settings["context_length"], settings["max_auto_bleu"])
    if not triples:
        raise SystemExit(f"error: no preference pairs left in {pairs} ({report}); check the DPO corpus")
    log.info("%d of %d pairs kept; dropped: %s", report["kept"], report["pairs"], report["dropped"])
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32, attn_implementation="sdpa").to(device)
    model.config.use_cache = False
    dtype = compute_dtype(settings, device)
    micro_batch = settings["per_device_batch_size"]

    # The reference: computed once with the starting weights, kept with the checkpoints.
    reference_file = work / "reference_logps.npy"
    if reference_file.exists() and len(np.load(reference_file)) == len(triples):
        reference = np.load(reference_file)
    else:
        reference = reference_logps(model, triples, micro_batch * 2, vocabulary.pad_id, device, dtype)
        if processes.main:
            work.mkdir(parents=True, exist_ok=True)
            np.save(reference_file, reference)

    model.train()
    optimizer = make_optimizer(model, settings, device)
    accumulation = gradient_accumulation(settings, processes.world)
    budget = Budget.from_config(settings["budget"])
    key = settings_hash(settings, seed, str(init), str(units), str(pairs), processes.world)
    state = load_checkpoint(work / "checkpoint", model, optimizer, key) or \
        {"step": 0, "tokens": 0, "pairs": 0, "seconds": 0.0, "epoch": 0, "cursor": 0, "last_step_seconds": 0.0}
    order = EpochOrder(len(triples), seed, state["epoch"], state["cursor"])
    history = CsvLog(work / "training_log.csv", LOG_COLUMNS, after_step=state["step"], write=processes.main)
    if state["step"]:
        log.info("resumed from the checkpoint at step %d", state["step"])
    if settings.get("compile"):
        model = torch.compile(model)
    if processes.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    global_pairs = settings["global_batch_size"]
    last_log, last_checkpoint = -float("inf"), state["seconds"]
    window_tokens, window_seconds = 0, 0.0

    while budget.progress(state["seconds"], state["tokens"], order.epochs_done) < 1.0:
        started = clock()
        lr = learning_rate(settings, state["step"], min(1.0, budget.progress(
            state["seconds"] + state["last_step_seconds"], state["tokens"], order.epochs_done + global_pairs / len(triples))))
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_pairs = order.take(global_pairs)
        sums = np.zeros(4)  # loss, correct, margin, tokens
        for micro in range(accumulation):
            first = (micro * processes.world + processes.rank) * micro_batch
            chunk = [triples[i] for i in step_pairs[first:first + micro_batch]]
            ref = torch.as_tensor(reference[step_pairs[first:first + micro_batch]], device=device)
            batch = {k: v.to(device) for k, v in collate(chunk, vocabulary.pad_id).items()}
            sync = micro == accumulation - 1 or processes.world == 1
            with (nullcontext() if sync else model.no_sync()), autocast:
                logps = completion_logps(model, batch).double()
                losses, chosen, rejected = dpo_loss(logps[:len(chunk)], logps[len(chunk):], ref[:, 0], ref[:, 1], settings["beta"])
                (losses.sum() * processes.world / global_pairs).backward()
            sums += [losses.sum().item(), (chosen > rejected).sum().item(), (chosen - rejected).sum().item(),
                     int(batch["attention_mask"].sum())]
        optimiser_step(model, optimizer, settings["max_grad_norm"], device)
        step_seconds = slowest(clock() - started, processes, device)
        loss, correct, margin, tokens = all_sum(sums.tolist(), processes, device)
        state.update(step=state["step"] + 1, tokens=state["tokens"] + int(tokens), pairs=state["pairs"] + global_pairs,
                     seconds=state["seconds"] + step_seconds, last_step_seconds=step_seconds, **order.state_dict())
        window_tokens, window_seconds = window_tokens + tokens, window_seconds + step_seconds
        done = budget.progress(state["seconds"], state["tokens"], order.epochs_done) >= 1.0
        if state["seconds"] - last_log >= log_every_seconds or done:
            speed = window_tokens / max(window_seconds, 1e-9)
            history.add([state["step"], loss / global_pairs, correct / global_pairs, margin / global_pairs, lr,
                         state["pairs"], state["tokens"], speed, state["seconds"]])
            log.info("step %d: loss %.4f, reward accuracy %.2f, margin %.3f, lr %.2e, %.0f tokens/s, epoch %.2f",
                     state["step"], loss / global_pairs, correct / global_pairs, margin / global_pairs, lr, speed, order.epochs_done)
            last_log, window_tokens, window_seconds = state["seconds"], 0, 0.0
        due = state["step"] % checkpoint_every_steps == 0 if checkpoint_every_steps else \
            state["seconds"] - last_checkpoint >= settings.get("checkpoint_every_minutes", 10.0) * 60
        if due and processes.main:
            save_checkpoint(work / "checkpoint", unwrap(model), optimizer, state, key)
            last_checkpoint = state["seconds"]

    summary = {"steps": state["step"], "pairs_seen": state["pairs"], "epochs": order.epochs_done, "tokens": state["tokens"],
               "training_seconds": state["seconds"], "data": report, "processes": processes.world,
               "parameters": sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
               "gradient_accumulation": accumulation, "dtype": str(dtype).replace("torch.", ""),
               "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    if processes.main:
        save_model(unwrap(model), init, out, work / "training_log.csv", summary)
    if processes.world > 1:
        torch.distributed.barrier()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", required=True, help="the pretrained speech LM (save_pretrained folder)")
    parser.add_argument("--units", required=True, help="units table of the preference corpus")
    parser.add_argument("--pairs", required=True, help="table of preference pairs: id, prompt, chosen, rejected texts")
    parser.add_argument("--settings", required=True, help="the recipe's dpo section as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", help="checkpoints, reference log-probs and the running log; default <out>.work")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--checkpoint-every-steps", type=int)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_stage(args.log_file, args.threads)
    out = Path(args.out)
    summary = train(Path(args.init), Path(args.units), Path(args.pairs), json.loads(args.settings), args.seed, out,
                    Path(args.work) if args.work else out.with_name(out.name + ".work"),
                    checkpoint_every_steps=args.checkpoint_every_steps)
    log.info("done: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
