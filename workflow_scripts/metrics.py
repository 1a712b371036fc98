"""A run's results in one file, a table across runs, and training curves for the report.

``collect`` writes ``results/<run>/metrics.json``: every metric (likelihood accuracies, GenPPL,
auto-BLEU, GPTScore, the vocoder's resynthesis word error rate), the recipe's name and description,
the code's git commit, the tokens each training stage saw, and the compute used (wall-clock and CPU
time of every job of the run, from Snakemake's benchmark files).
``table`` stacks the metrics of several runs into one CSV with DuckDB. ``curves`` draws training and
validation losses as SVG, and ``samples`` picks a few generated files, for ``snakemake --report``.

Command line::

    python -m workflow_scripts.metrics collect --run demo --likelihood results/demo/eval/*.json \\
        --generation results/demo/generation/scores.json --training results/models/demo/*/training_summary.json \\
        --benchmarks benchmarks/... --out results/demo/metrics.json
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """The commit of the workflow's code, with -dirty when it has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def compute_used(benchmark_files: list[str]) -> dict:
    """Hours of wall-clock and CPU time per rule, from Snakemake benchmark TSVs (benchmarks/<...>/<rule-ish>.tsv)."""
    per_job, wall, cpu = {}, 0.0, 0.0
    for path in benchmark_files:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        seconds = sum(float(r["s"]) for r in rows)
        cpu_seconds = sum(float(r["cpu_time"]) for r in rows if r.get("cpu_time") not in (None, "", "NA", "-"))
        per_job[str(Path(path).with_suffix(""))] = round(seconds / 3600, 4)
        wall, cpu = wall + seconds, cpu + cpu_seconds
    return {"wall_hours": round(wall / 3600, 4), "cpu_hours": round(cpu / 3600, 4), "jobs": per_job}


def collect(args) -> dict:
    likelihood = {}
    for path in args.likelihood:
        result = json.loads(Path(path).read_text())
        likelihood[result["benchmark"]] = {k: result[k] for k in ("accuracy", "accuracy_mean", "accuracy_sum", "pairs",
                                                                   "pairs_left_out", "aggregation")}
    training = {}
    for path in args.training:
        summary = json.loads(Path(path).read_text())
        training[Path(path).parent.name] = {k: summary.get(k) for k in ("steps", "tokens", "training_seconds", "valid_loss",
                                                                          "parameters", "epochs", "device", "processes")}
    generation = json.loads(Path(args.generation).read_text()) if args.generation else None
    data = json.loads(Path(args.data).read_text()) if args.data else None
    vocoder = json.loads(Path(args.vocoder).read_text()) if args.vocoder else None
    return {
        "run": args.run,
        "recipe": args.description,
        "commit": git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": data and {
            "hours": {f"{c['corpus']}/{c['split']}": c["hours"] for c in data["corpora"]},
            "pretraining_tokens": data["packing"]["train"]["tokens"],
            "fill_ratio": data["packing"]["train"]["fill_ratio"],
            "packed": data["packed_dir"],
        },
        "likelihood": likelihood,
        "generation": generation and {
            "genppl": generation["genppl"]["genppl"],                 # prompt + continuation, as the paper
            "genppl_continuation": generation["genppl_continuation"]["genppl"],
            "samples": generation["samples"],
            "empty_transcripts": generation["genppl"]["empty"],
            "empty_continuation_transcripts": generation["genppl_continuation"]["empty"],
            "genppl_empty_transcripts": generation["empty_transcripts"],
            "auto_bleu": generation["auto_bleu"],
            "gpt_score": generation["gpt_score"],
        },
        "vocoder": vocoder and {"resynthesis_wer": vocoder.get("resynthesis_wer"), "held_out": vocoder.get("held_out_utterances")},
        "training": training,
        "tokens_seen": {stage: t.get("tokens") for stage, t in training.items()},
        "compute": compute_used(args.benchmarks),
    }


TABLE_QUERY = """
SELECT run, recipe,
       likelihood.sblimp.accuracy AS sblimp, likelihood.sstorycloze.accuracy AS sstorycloze,
       likelihood.tstorycloze.accuracy AS tstorycloze, generation.genppl AS genppl,
       generation.auto_bleu AS auto_bleu, generation.gpt_score AS gpt_score,
       generation.empty_transcripts AS empty_transcripts, compute.wall_hours AS wall_hours, "commit"
FROM read_json_auto($files, union_by_name = true)
ORDER BY run
"""


def table(files: list[str], out: str) -> None:
    import duckdb

    with duckdb.connect() as db:
        rows = db.execute(TABLE_QUERY, {"files": files}).fetchall()
        columns = [d[0] for d in db.description]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


def curves(logs: list[str], names: list[str], out: str) -> None:
    """Training (and validation) loss against training time, one panel per log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(logs), figsize=(5 * len(logs), 3.5), squeeze=False)
    for axis, path, name in zip(axes[0], logs, names):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        for split in ("train", "valid"):
            points = [(float(r["elapsed_seconds"]) / 60, float(r["loss"])) for r in rows
                      if r.get("split", "train") == split and r["loss"] not in ("", None)]
            if points:
                axis.plot(*zip(*points), marker="." if split == "valid" else None, label=split)
        axis.set_title(name)
        axis.set_xlabel("training minutes")
        axis.set_ylabel("loss")
        axis.legend()
    fig.tight_layout()
    fig.savefig(out, format="svg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("collect")
    one.add_argument("--run", required=True)
    one.add_argument("--description", required=True)
    one.add_argument("--data", help="the run's data.json")
    one.add_argument("--likelihood", nargs="*", default=[])
    one.add_argument("--generation")
    one.add_argument("--vocoder", help="the vocoder's resynthesis.json, when the workflow trained it")
    one.add_argument("--training", nargs="*", default=[])
    one.add_argument("--benchmarks", nargs="*", default=[])
    one.add_argument("--out", required=True)
    many = commands.add_parser("table")
    many.add_argument("--metrics", nargs="+", required=True)
    many.add_argument("--out", required=True)
    samples = commands.add_parser("samples", help="copy a few generated prompt-and-continuation files for the report")
    samples.add_argument("--manifest", required=True)
    samples.add_argument("--count", type=int, default=3)
    samples.add_argument("--out-dir", required=True)
    plot = commands.add_parser("curves")
    plot.add_argument("--logs", nargs="+", required=True)
    plot.add_argument("--names", nargs="+", required=True)
    plot.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "collect":
        Path(args.out).write_text(json.dumps(collect(args), indent=2) + "\n")
        print(Path(args.out).read_text())
    elif args.command == "table":
        table(args.metrics, args.out)
        print(Path(args.out).read_text())
    elif args.command == "samples":
        import shutil

        import pyarrow.parquet as pq

        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        rows = [r for r in pq.read_table(args.manifest).to_pylist() if r["id"].endswith(".full") and r["path"]]
        for row in rows[: args.count]:
            shutil.copy(row["path"], out / f"{row['id']}.flac")
    else:
        curves(args.logs, args.names, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
