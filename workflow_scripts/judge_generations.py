"""Rule judge_generations: GPTScore, an LLM judge's 1-to-5 ratings of each prompt and its continuation
(``slamming.evaluation.judge``), when the recipe sets ``evaluation.judge``.

Without the API key in the environment, the stage records why it did not run (``not_run``) and the
metrics say so; the workflow plans it again once the key is set. An endpoint that is down or never
answers gets a bounded timeout and a few retries per request, requests go out in parallel, and the
answers are cached: if some get no answer the job fails with a summary line, and running the same
command again asks only for those.

Command line::

    python -m workflow_scripts.judge_generations --transcripts results/slam/generation/transcripts.parquet \\
        --settings '{"base_url": "https://api.openai.com/v1", "model": "gpt-4o"}' --cache results/slam/generation/judge.work \\
        --out-table results/slam/generation/judge.parquet --out-json results/slam/generation/judge.json
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from slamming.artifacts import read_parquet
from slamming.workflow.schema import with_defaults
from slamming.evaluation.judge import Judge, rate_all
from slamming.logs import StageError, run_stage, setup_logging, stage_parser

log = logging.getLogger("judge_generations")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--transcripts", required=True, help="id, text; ids <prompt id>.prompt / .continuation")
    parser.add_argument("--settings", required=True, help="the recipe's evaluation.judge section as JSON")
    parser.add_argument("--cache", required=True, help="folder of the cached answers (kept across runs)")
    parser.add_argument("--out-table", required=True)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    settings = with_defaults("run.evaluation.judge", json.loads(args.settings))  # by hand: the schema's defaults
    key_variable = settings["api_key_env"]
    key = os.environ.get(key_variable)
    if not key:
        reason = f"no API key in the environment variable {key_variable}; set it and run again (the judge is then planned anew)"
        log.warning("judge not run: %s", reason)
        pq.write_table(pa.table({"id": pa.array([], pa.string()), "judge_rating": pa.array([], pa.int64())}), args.out_table)
        Path(args.out_json).write_text(json.dumps({"gpt_score": None, "not_run": reason}, indent=2) + "\n")
        return 0
    texts = {r["id"]: r["text"] or "" for r in read_parquet(args.transcripts).to_pylist()}
    prompts = sorted({i.rsplit(".", 1)[0] for i in texts})
    items = [(texts.get(f"{p}.prompt", "").strip(), texts.get(f"{p}.continuation", "").strip()) for p in prompts]
    judge = Judge.from_config(settings, key)
    ratings, report = rate_all(judge, items, Path(args.cache) / "answers.jsonl")
    log.info("judge %s: %d of %d rated, %d answers without a rating, %d without an answer%s", judge.model, report["rated"],
             report["items"], report["no_rating_in_answer"], report["no_answer"],
             f" ({', '.join(f'{n} x {why}' for why, n in report['failures'].items())})" if report["failures"] else "")
    if report["no_answer"]:
        raise StageError(f"the judge at {judge.base_url} answered {report['items'] - report['no_answer']} of {report['items']} "
                         f"requests ({', '.join(f'{n} x {why}' for why, n in report['failures'].items())}); run the same "
                         f"command again to ask for the rest (the answers so far are kept in {args.cache})")
    pq.write_table(pa.Table.from_pylist([{"id": p, "judge_rating": r} for p, r in zip(prompts, ratings)]), args.out_table)
    rated = [r for r in ratings if r is not None]
    Path(args.out_json).write_text(json.dumps({"gpt_score": float(np.mean(rated)) if rated else None, "model": judge.model,
                                               **report}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_stage(main)
