"""Rule score_generations: GenPPL and auto-BLEU of the transcribed generations, as the paper's official
code measures them (``slamming.evaluation.genppl``): on the prompt and its continuation transcribed together;
GenPPL also for the continuation alone (``genppl_continuation``); empty transcripts counted and left
out of GenPPL.

Command line::

    python -m workflow_scripts.score_generations --transcripts results/demo/generation/transcripts.parquet \\
        --scorer results/models/demo_text_lm --out-table scores.parquet --out-json scores.json
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from slamming.artifacts import load_causal_lm, read_parquet
from slamming.data.autobleu import auto_bleu
from slamming.evaluation.genppl import EMPTY_TRANSCRIPTS, gen_ppl, mean_nlls
from slamming.evaluation.statistics import INTERVAL, interval
from slamming.logs import run_stage, setup_stage, stage_parser

log = logging.getLogger("score_generations")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--transcripts", required=True, help="id, text; ids <prompt id>.prompt / .continuation / .full")
    parser.add_argument("--scorer", required=True, help="the scoring LM (causal LM folder with its tokenizer)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out-table", required=True)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args(argv)
    setup_stage(args.log_file)
    from transformers import AutoTokenizer

    texts = {r["id"]: r["text"] or "" for r in read_parquet(args.transcripts).to_pylist()}
    prompts = sorted({i.rsplit(".", 1)[0] for i in texts})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.scorer)
    model = load_causal_lm(args.scorer, dtype=torch.float32).to(device).eval()
    part = {name: [texts.get(f"{p}.{name}", "") for p in prompts] for name in ("prompt", "continuation", "full")}
    nll = {name: mean_nlls(model, tokenizer, part[name], args.batch_size, device) for name in ("full", "continuation")}
    bleus = [auto_bleu(t) for t in part["full"]]
    rows = [{"id": p, "prompt_text": part["prompt"][i], "continuation_text": part["continuation"][i],
             "full_text": part["full"][i], "full_nll": nll["full"][i], "continuation_nll": nll["continuation"][i],
             "full_auto_bleu": bleus[i]} for i, p in enumerate(prompts)]
    pq.write_table(pa.Table.from_pylist(rows), args.out_table)
    summary = {"samples": len(prompts), "genppl": gen_ppl(nll["full"]), "genppl_continuation": gen_ppl(nll["continuation"]),
               "empty_transcripts": EMPTY_TRANSCRIPTS, "auto_bleu": 100 * float(np.mean(bleus)) if bleus else None,
               "scorer": str(args.scorer), "interval": INTERVAL.replace("items", "prompts")}
    # over prompts: GenPPL is exp of a mean NLL, so its interval is exp of the mean's
    scored = [n for n in nll["full"] if n is not None]
    summary["genppl_ci95"] = [math.exp(x) for x in interval(scored)] if scored else None
    summary["auto_bleu_ci95"] = [100 * x for x in interval(bleus)] if bleus else None
    Path(args.out_json).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("GenPPL %s (prompt and continuation; %d of %d transcripts empty), %s (continuation alone); auto-BLEU %s",
             summary["genppl"]["genppl"], summary["genppl"]["empty"], len(prompts),
             summary["genppl_continuation"]["genppl"], summary["auto_bleu"])
    return 0


if __name__ == "__main__":
    run_stage(main)
