"""An LLM judge (GPTScore): an OpenAI-compatible chat endpoint rates each prompt and its continuation
from 1 to 5 with the Align-SLM prompt, as the paper's GPT-4o judge.

The recipe's 1,000 prompts at up to a minute each would take hours one after another, so requests go
out in parallel, each with a bounded timeout and a few retries with back-off. Every answer is kept in a
cache keyed by what was asked (judge model, instruction, prompt and continuation), so a run stopped by
an endpoint that was down asks again only what was not answered. The API key is read from the
environment variable the config names and is never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("judge")

JUDGE_INSTRUCTION = (
    "Rate how likely and how relevant a continuation of a short text is. The text is: \"{prompt}\". "
    "Its continuation is: \"{continuation}\". Consider whether the continuation makes sense on its own "
    "and as a continuation of the text. Rate from 1 to 5: 1 - very unlikely and unrelated to the text; "
    "2 - unlikely and barely related; 3 - fairly likely and related; 4 - likely and related; "
    "5 - very likely and closely related. Think briefly, then end your answer with \"The final answer is "
    "$\\boxed{{x}}$\", where x is your rating."
)


class JudgeUnreachable(Exception):
    """The endpoint did not answer within the retries."""


@dataclass(frozen=True)
class Judge:
    """One OpenAI-compatible chat-completions endpoint and model."""

    base_url: str
    model: str
    key: str
    timeout_seconds: float
    retries: int
    parallel_requests: int

    @classmethod
    def from_config(cls, settings: dict, key: str) -> "Judge":
        return cls(settings["base_url"].rstrip("/"), settings["model"], key, settings["timeout_seconds"],
                   settings["retries"], settings["parallel_requests"])

    def ask(self, prompt: str, continuation: str) -> str:
        """The judge's answer; JudgeUnreachable after ``retries`` failed attempts (a timeout, a refused
        connection, a server error)."""
        body = json.dumps({"model": self.model, "messages": [
            {"role": "user", "content": JUDGE_INSTRUCTION.format(prompt=prompt, continuation=continuation)}]}).encode()
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(30.0, 2.0 ** attempt))
            request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {self.key}"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    return json.loads(response.read())["choices"][0]["message"]["content"]
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
                if e.code < 500 and e.code != 429:  # a refused request is not a passing outage
                    break
            except (urllib.error.URLError, TimeoutError, OSError, KeyError, ValueError) as e:
                last = _why(e)
        raise JudgeUnreachable(last or "no answer")

    def key_of(self, prompt: str, continuation: str) -> str:
        """What an answer is cached under: everything that decides it."""
        return hashlib.sha256(json.dumps([self.base_url, self.model, JUDGE_INSTRUCTION, prompt, continuation]).encode()).hexdigest()


def _why(error: Exception) -> str:
    """A failed request in a few words."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, TimeoutError):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (KeyError, ValueError)):
        return "an answer that is not a chat completion"
    return type(reason).__name__


def rating_of(answer: str) -> int | None:
    """The 1-to-5 rating at the end of an answer, or None when it has none."""
    match = re.search(r"\\boxed\{(\d)\}", answer) or re.search(r"([1-5])\D*$", answer)
    return int(match.group(1)) if match and 1 <= int(match.group(1)) <= 5 else None


def rate_all(judge: Judge, items: list[tuple[str, str]], cache: Path) -> tuple[list[int | None], dict]:
    """Ratings of (prompt, continuation) items, asked in parallel, answers cached; and what happened:
    how many were rated, had no rating in their answer, or got no answer (with the last reason)."""
    answers = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            record = json.loads(line)
            answers[record["key"]] = record["answer"]
    keys = [judge.key_of(p, c) for p, c in items]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in answers}.values())
    failures: dict[str, int] = {}
    cache.parent.mkdir(parents=True, exist_ok=True)

    def ask(index: int):
        try:
            return index, judge.ask(*items[index]), None
        except JudgeUnreachable as e:
            return index, None, str(e)

    with ThreadPoolExecutor(max_workers=judge.parallel_requests) as pool, open(cache, "a") as out:
        for done, (index, answer, failure) in enumerate(pool.map(ask, todo), 1):
            if failure is None:
                answers[keys[index]] = answer
                out.write(json.dumps({"key": keys[index], "answer": answer}) + "\n")
                out.flush()
            else:
                failures[failure] = failures.get(failure, 0) + 1
            if done % 50 == 0:
                log.info("judge: %d of %d asked", done, len(todo))
    ratings = [rating_of(answers[k]) if k in answers else None for k in keys]
    report = {"items": len(items), "rated": sum(r is not None for r in ratings),
              "no_rating_in_answer": sum(k in answers and r is None for k, r in zip(keys, ratings)),
              "no_answer": sum(k not in answers for k in keys), "failures": failures, "from_cache": len(items) - len(todo)}
    return ratings, report
