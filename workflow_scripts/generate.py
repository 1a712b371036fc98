"""Generate speech continuations for the generative metrics (the paper's Table 6 sampling).

Prompts are the positive utterances of a pair manifest, in its order (the full recipe: the first
1000 correct sStoryCloze files), each cut to ``prompt_seconds`` of audio and turned into units with
the run's tokeniser (encoder, layer, centroids) - the same code as the extraction stage. The model
samples a continuation for each (temperature, top-k, repetition penalty, at most ``max_new_tokens``,
stopping early only at EOS), seeded, in batches of left-padded prompts.

Output: a table with id, the prompt's units, the continuation's units, and both together (unit ids,
not tokens); and the cut prompts as audio with their manifest (ids ``<id>.prompt``), for the judge.

Command line::

    python -m workflow_scripts.generate --model results/models/demo/dpo --pairs results/benchmarks/.../pairs.parquet \\
        --encoder results/models/demo_encoder --layer 2 --centroids results/units/demo_hubert_km100/centroids.npy \\
        --settings '{"temperature": 0.8, ...}' --seed 0 --out results/demo/generation/units.parquet
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from workflow_scripts.logs import setup_stage

log = logging.getLogger("generate")


def prompt_units(paths: list[str], seconds: float, encoder, assign) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first ``seconds`` of each file (16 kHz) and its de-duplicated units."""
    from workflow_scripts.audio import read_audio
    from workflow_scripts.encoder import SAMPLE_RATE
    from workflow_scripts.units import deduplicate

    waves, units = [], []
    for path in paths:
        waves.append(read_audio(path, SAMPLE_RATE)[: int(seconds * SAMPLE_RATE)])
        units.append(deduplicate(assign(encoder.encode([torch.from_numpy(waves[-1])])[0]).numpy())[0].astype(np.int64))
    return waves, units


@torch.no_grad()
def sample_continuations(model, vocabulary, prompts: list[np.ndarray], settings: dict, batch_size: int, seed: int, device) -> list[np.ndarray]:
    """Unit ids sampled after each prompt (``BOS prompt``), EOS and anything after it dropped."""
    torch.manual_seed(seed)
    out = []
    for first in range(0, len(prompts), batch_size):
        batch = [[vocabulary.bos_id, *vocabulary.tokens(p).tolist()] for p in prompts[first:first + batch_size]]
        length = max(len(b) for b in batch)
        input_ids = torch.full((len(batch), length), vocabulary.pad_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for i, row in enumerate(batch):  # left padding: every prompt ends where generation starts
            input_ids[i, length - len(row):], mask[i, length - len(row):] = torch.tensor(row), 1
        generated = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device), do_sample=True,
                                   temperature=settings["temperature"], top_k=settings["top_k"],
                                   repetition_penalty=settings["repetition_penalty"], max_new_tokens=settings["max_new_tokens"],
                                   pad_token_id=vocabulary.pad_id, eos_token_id=vocabulary.eos_id)
        for row in generated[:, length:].cpu().numpy():
            ends = np.flatnonzero(row == vocabulary.eos_id)
            out.append(vocabulary.units(row[: ends[0]] if len(ends) else row))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the speech LM (save_pretrained folder)")
    parser.add_argument("--pairs", required=True, help="pair manifest whose positive utterances are the prompts")
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--layer", type=int, required=True)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="the encoder's precision")
    parser.add_argument("--centroids", required=True)
    parser.add_argument("--settings", required=True, help="the recipe's generation section as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True)
    parser.add_argument("--prompt-dir", required=True, help="where the cut prompts are written as FLAC")
    parser.add_argument("--prompt-manifest", required=True)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    from workflow_scripts.audio import write_flac
    from workflow_scripts.manifest import MANIFEST_SCHEMA, write_table
    from workflow_scripts.encoder import SpeechEncoder
    from workflow_scripts.kmeans import NearestCentroid
    from workflow_scripts.speech_lm import load_vocabulary

    settings = json.loads(args.settings)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pairs = pq.read_table(args.pairs).to_pylist()[: settings["num_prompts"]]
    encoder = SpeechEncoder(args.encoder, args.layer, device=device, dtype=getattr(torch, args.dtype))
    waves, prompts = prompt_units([p["positive_path"] for p in pairs], settings["prompt_seconds"], encoder,
                                  NearestCentroid(np.load(args.centroids), device=device))
    del encoder
    Path(args.prompt_dir).mkdir(parents=True, exist_ok=True)
    for pair, wave in zip(pairs, waves):
        write_flac(Path(args.prompt_dir) / f"{pair['positive_id']}.flac", wave, 16000)
    write_table([{"id": f"{p['positive_id']}.prompt", "path": str(Path(args.prompt_dir) / f"{p['positive_id']}.flac"),
                  "duration": len(w) / 16000, "sample_rate": 16000, "num_samples": len(w), "split": "test", "text": None,
                  "source": p["positive_path"]} for p, w in zip(pairs, waves)], MANIFEST_SCHEMA, args.prompt_manifest)
    vocabulary = load_vocabulary(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).to(device).eval()
    continuations = sample_continuations(model, vocabulary, prompts, settings, args.batch_size, args.seed, device)
    rows = [{"id": p["positive_id"], "prompt_units": prompt.tolist(), "continuation_units": c.tolist(),
             "full_units": prompt.tolist() + c.tolist()} for p, prompt, c in zip(pairs, prompts, continuations)]
    pq.write_table(pa.Table.from_pylist(rows), args.out)
    log.info("%d continuations, %.1f units on average after prompts of %.1f units", len(rows),
             np.mean([len(c) for c in continuations]) if rows else 0, np.mean([len(p) for p in prompts]) if rows else 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
