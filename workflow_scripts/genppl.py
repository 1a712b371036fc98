"""Generative metrics from transcripts: GenPPL, auto-BLEU, and an optional LLM judge (GPTScore).

As the paper's official code measures them:

* GenPPL: the prompt and its continuation are vocoded and transcribed together (ids ``<id>.full``);
  each transcript's mean negative log-likelihood per token under the scoring LM (the full recipe's
  Llama-3.2-1B, the demo's text LM), every token after the scorer's BOS; the exponential of the mean
  over transcripts. The headline ``genppl`` is that; ``genppl_continuation`` is the same for the
  continuation transcribed alone (ids ``<id>.continuation``), which the paper does not report.
  A transcript with no words has no tokens to score: the official code then gives NaN; here it is
  counted (``empty``) and left out of the mean.
* auto-BLEU: bigram auto-BLEU (``autobleu.py``) of the same prompt-and-continuation transcripts, the
  mean over all of them (an empty one scores 0, as in the official code), times 100 as the paper
  prints it.
* judge: off unless configured. An OpenAI-compatible chat endpoint rates prompt and continuation
  transcripts from 1 to 5; the API key is read from the environment variable the config names and is
  never written anywhere.

Command line::

    python -m workflow_scripts.genppl --transcripts results/demo/generation/transcripts.parquet \\
        --scorer results/models/demo_text_lm --out-table scores.parquet --out-json scores.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from workflow_scripts.autobleu import auto_bleu
from workflow_scripts.logs import setup_logging

log = logging.getLogger("genppl")

JUDGE_INSTRUCTION = (
    "Rate how likely and how relevant a continuation of a short text is. The text is: \"{prompt}\". "
    "Its continuation is: \"{continuation}\". Consider whether the continuation makes sense on its own "
    "and as a continuation of the text. Rate from 1 to 5: 1 - very unlikely and unrelated to the text; "
    "2 - unlikely and barely related; 3 - fairly likely and related; 4 - likely and related; "
    "5 - very likely and closely related. Think briefly, then end your answer with \"The final answer is "
    "$\\boxed{{x}}$\", where x is your rating."
)


@torch.no_grad()
def mean_nlls(model, tokenizer, texts: list[str], batch_size: int, device) -> list[float | None]:
    """Mean negative log-likelihood per token of each text after the scorer's BOS token, the text
    tokenised as it is (a leading space included); None for a text with no words."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = [[bos, *tokenizer(t, add_special_tokens=False)["input_ids"]] if t.strip() else None for t in texts]
    out: list[float | None] = [None] * len(texts)
    todo = [i for i, e in enumerate(encoded) if e is not None and len(e) > 1]
    for first in range(0, len(todo), batch_size):
        batch = todo[first:first + batch_size]
        length = max(len(encoded[i]) for i in batch)
        ids = torch.zeros((len(batch), length), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for k, i in enumerate(batch):
            ids[k, :len(encoded[i])], mask[k, :len(encoded[i])] = torch.tensor(encoded[i]), 1
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
        nll = -torch.gather(F.log_softmax(logits[:, :-1], dim=-1), 2, ids[:, 1:, None])[..., 0] * mask[:, 1:]
        for k, i in enumerate(batch):
            out[i] = float(nll[k].sum() / mask[k, 1:].sum())
    return out


EMPTY_TRANSCRIPTS = ("left out: GenPPL is the mean over the transcripts with words; an empty transcript "
                     "makes the official code's GenPPL NaN")


def gen_ppl(nlls: list[float | None]) -> dict:
    """exp of the mean per-token NLL over the scored transcripts; empty ones counted, not scored."""
    scored = [n for n in nlls if n is not None]
    return {"genppl": math.exp(float(np.mean(scored))) if scored else None, "scored": len(scored),
            "empty": len(nlls) - len(scored)}


class Judge:
    """An OpenAI-compatible chat-completions endpoint as a 1-to-5 rater."""

    def __init__(self, settings: dict):
        key_variable = settings.get("api_key_env", "OPENAI_API_KEY")
        self.key = os.environ.get(key_variable)
        if not self.key:
            raise SystemExit(f"error: the judge needs an API key in the environment variable {key_variable}")
        self.url = settings["base_url"].rstrip("/") + "/chat/completions"
        self.model = settings["model"]

    def rate(self, prompt: str, continuation: str) -> int | None:
        body = json.dumps({"model": self.model, "messages": [
            {"role": "user", "content": JUDGE_INSTRUCTION.format(prompt=prompt, continuation=continuation)}]}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json",
                                                                     "Authorization": f"Bearer {self.key}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                answer = json.loads(response.read())["choices"][0]["message"]["content"]
        except Exception as e:  # one failed rating is recorded as missing, not fatal
            log.warning("judge request failed: %s", type(e).__name__)
            return None
        match = re.search(r"\\boxed\{(\d)\}", answer) or re.search(r"([1-5])\D*$", answer)
        return int(match.group(1)) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transcripts", required=True, help="id, text; ids <prompt id>.prompt / .continuation / .full")
    parser.add_argument("--scorer", required=True, help="the scoring LM (causal LM folder with its tokenizer)")
    parser.add_argument("--judge", help="the judge config as JSON (base_url, model, api_key_env); off when omitted")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out-table", required=True)
    parser.add_argument("--out-json", required=True)
    parser.add_argument("--log-file", help="also write the log here")
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = {r["id"]: r["text"] or "" for r in pq.read_table(args.transcripts).to_pylist()}
    prompts = sorted({i.rsplit(".", 1)[0] for i in texts})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.scorer)
    model = AutoModelForCausalLM.from_pretrained(args.scorer, dtype=torch.float32).to(device).eval()
    part = {name: [texts.get(f"{p}.{name}", "") for p in prompts] for name in ("prompt", "continuation", "full")}
    nll = {name: mean_nlls(model, tokenizer, part[name], args.batch_size, device) for name in ("full", "continuation")}
    bleus = [auto_bleu(t) for t in part["full"]]
    ratings = [None] * len(prompts)
    if args.judge:
        judge = Judge(json.loads(args.judge))
        ratings = [judge.rate(p, c) for p, c in zip(part["prompt"], part["continuation"])]
    rows = [{"id": p, "prompt_text": part["prompt"][i], "continuation_text": part["continuation"][i],
             "full_text": part["full"][i], "full_nll": nll["full"][i], "continuation_nll": nll["continuation"][i],
             "full_auto_bleu": bleus[i], "judge_rating": ratings[i]} for i, p in enumerate(prompts)]
    pq.write_table(pa.Table.from_pylist(rows), args.out_table)
    rated = [r for r in ratings if r is not None]
    summary = {"samples": len(prompts), "genppl": gen_ppl(nll["full"]), "genppl_continuation": gen_ppl(nll["continuation"]),
               "empty_transcripts": EMPTY_TRANSCRIPTS,
               "auto_bleu": 100 * float(np.mean(bleus)) if bleus else None,
               "gpt_score": float(np.mean(rated)) if rated else None, "gpt_score_rated": len(rated),
               "scorer": str(args.scorer)}
    Path(args.out_json).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("GenPPL %s (prompt and continuation; %d of %d transcripts empty), %s (continuation alone); auto-BLEU %s",
             summary["genppl"]["genppl"], summary["genppl"]["empty"], len(prompts),
             summary["genppl_continuation"]["genppl"], summary["auto_bleu"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
