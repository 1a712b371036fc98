"""Generative metrics from transcripts: GenPPL and auto-BLEU (the LLM judge is ``judge.py``).

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
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger("genppl")


@torch.no_grad()
def mean_nlls(model, tokenizer, texts: list[str], batch_size: int, device, with_eos: bool = False) -> list[float | None]:
    """Mean negative log-likelihood per token of each text after the scorer's BOS token, the text
    tokenised as it is (a leading space included), and its EOS with ``with_eos``; None for a text with
    no words."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    end = [tokenizer.eos_token_id] if with_eos else []
    encoded = [[bos, *tokenizer(t, add_special_tokens=False)["input_ids"], *end] if t.strip() else None for t in texts]
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
