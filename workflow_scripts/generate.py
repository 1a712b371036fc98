"""Rule generate: speech continuations for the generative metrics, with the paper's Table 6 sampling
(``slamming.evaluation.generation``).

Prompts are the positive utterances of a pair manifest in its order (the full recipe: the first
1000 correct sStoryCloze files), or the files of a corpus manifest in its order (out of domain: People's
Speech's test set), each cut to ``prompt_seconds`` of audio and turned into units by the
run's tokeniser. The model samples a continuation of each, seeded. Output: a table with the prompt's,
the continuation's and both units together, and the cut prompts as audio with their manifest.

Command line::

    python -m workflow_scripts.generate --model results/models/demo/dpo --prompts results/benchmarks/.../pairs.parquet \\
        --encoder '{"encoder": {"mfcc": {"coefficients": 20}}, "folder": null, "dtype": "float32"}' --centroids results/units/demo_mfcc_km100/centroids.npy \\
        --settings '{"temperature": 0.8, ...}' --seed 0 --out results/demo/generation/units.parquet \\
        --prompt-dir results/demo/generation/prompts --prompt-manifest results/demo/generation/prompts.parquet
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from slamming.artifacts import load_causal_lm, load_npy, read_parquet
from slamming.data.audio import write_flac
from slamming.units.encoder import SAMPLE_RATE, add_encoder_arguments, encoder_from_arguments
from slamming.evaluation.generation import prompt_files, prompt_units, sample_continuations, speech_prefix, text_prefix
from slamming.units.kmeans import NearestCentroid
from slamming.logs import StageError, run_stage, setup_stage, stage_parser
from slamming.data.manifests import MANIFEST_SCHEMA, write_table
from slamming.training.speech_lm import load_vocabulary

log = logging.getLogger("generate")


def text_prompts(pairs: list[dict], vocabulary, words: int, text_lm: str | None, source: str) -> tuple[list[str], list[list[int]]]:
    """The first ``words`` words of each prompt's text, and the tokens an interleaved model continues in speech."""
    from transformers import AutoTokenizer

    if not vocabulary.interleaved or not text_lm:
        raise StageError("generation.prompt_modality text: only an interleaved model (interleaving) has text to be prompted with")
    unwritten = [p["positive_id"] for p in pairs if not p.get("positive_text")]
    if unwritten:
        raise StageError(f"{source}: {len(unwritten)} prompts have no text (e.g. {unwritten[0]}); text prompts need the "
                         "prompt files' text, or set generation.prompt_modality: speech")
    tokenizer = AutoTokenizer.from_pretrained(text_lm)
    texts = [" ".join(p["positive_text"].split()[:words]) for p in pairs]
    return texts, [text_prefix(vocabulary, tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts]


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True, help="the speech LM (save_pretrained folder)")
    parser.add_argument("--prompts", required=True, help="a pair manifest whose positive utterances are the prompts, "
                        "or a corpus manifest whose files are")
    add_encoder_arguments(parser)
    parser.add_argument("--centroids", required=True)
    parser.add_argument("--settings", required=True, help="the recipe's generation section as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True)
    parser.add_argument("--prompt-dir", required=True, help="where the cut prompts are written as FLAC")
    parser.add_argument("--prompt-manifest", required=True)
    parser.add_argument("--text-lm", help="generation.prompt_modality text: the text LM whose tokenizer writes the prompts")
    args = parser.parse_args(argv)
    setup_stage(args.log_file)

    settings = json.loads(args.settings)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pairs = prompt_files(read_parquet(args.prompts).to_pylist(), settings["num_prompts"])
    encoder = encoder_from_arguments(args, device)
    waves, prompts = prompt_units([p["positive_path"] for p in pairs], settings["prompt_seconds"], encoder,
                                  NearestCentroid(load_npy(args.centroids), device=device))
    del encoder
    prompt_dir = Path(args.prompt_dir)
    prompt_dir.mkdir(parents=True, exist_ok=True)
    for pair, wave in zip(pairs, waves):
        write_flac(prompt_dir / f"{pair['positive_id']}.flac", wave, SAMPLE_RATE)
    write_table([{"id": f"{p['positive_id']}.prompt", "path": str(prompt_dir / f"{p['positive_id']}.flac"),
                  "duration": len(w) / SAMPLE_RATE, "sample_rate": SAMPLE_RATE, "num_samples": len(w), "split": "test",
                  "text": None, "source": p["positive_path"]} for p, w in zip(pairs, waves)], MANIFEST_SCHEMA, args.prompt_manifest)
    vocabulary = load_vocabulary(args.model)
    model = load_causal_lm(args.model, dtype=torch.float32).to(device).eval()
    if settings["prompt_modality"] == "text":
        texts, prefixes = text_prompts(pairs, vocabulary, settings["text_prompt_words"], args.text_lm, args.prompts)
        prompts = [np.zeros(0, dtype=np.int64)] * len(pairs)  # nothing spoken: the audio is the continuation's alone
    else:
        texts, prefixes = [None] * len(pairs), [speech_prefix(vocabulary, p) for p in prompts]
    continuations = sample_continuations(model, vocabulary, prefixes, settings, args.batch_size, args.seed, device)
    rows = [{"id": p["positive_id"], "prompt_units": prompt.tolist(), "prompt_text": text, "continuation_units": c.tolist(),
             "full_units": prompt.tolist() + c.tolist()} for p, prompt, text, c in zip(pairs, prompts, texts, continuations)]
    pq.write_table(pa.Table.from_pylist(rows), args.out)
    log.info("%d continuations, %.1f units on average after prompts of %.1f units", len(rows),
             np.mean([len(c) for c in continuations]) if rows else 0, np.mean([len(p) for p in prompts]) if rows else 0)
    return 0


if __name__ == "__main__":
    run_stage(main)
