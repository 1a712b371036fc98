"""A run's results in one file, a table across runs, and training curves for the report.

``collect`` writes ``results/<run>/metrics.json``: every metric (likelihood accuracies, GenPPL,
auto-BLEU, GPTScore, the vocoder's resynthesis word error rate), the recipe's name and description,
the code's git commit, the tokens each training stage saw, and the compute used (wall-clock and CPU
time of every job of the run, from Snakemake's benchmark files).
``table`` stacks the metrics of several runs into one CSV with DuckDB. ``curves`` draws training and
validation losses as SVG, and ``samples`` picks a few generated files, for ``snakemake --report``.
"""

from __future__ import annotations

import csv
import datetime
import subprocess
from pathlib import Path

from slamming.artifacts import read_json

REPO = Path(__file__).resolve().parents[2]


def git_commit() -> str:
    """The commit of the workflow's code, with -dirty when it has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def compute_used(timing_files: list[str]) -> dict:
    """Hours of wall-clock and CPU time per rule, from Snakemake's timings (its benchmark TSVs, timings/<...>/<rule-ish>.tsv)."""
    per_job, wall, cpu = {}, 0.0, 0.0
    for path in timing_files:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        seconds = sum(float(r["s"]) for r in rows)
        cpu_seconds = sum(float(r["cpu_time"]) for r in rows if r.get("cpu_time") not in (None, "", "NA", "-"))
        per_job[str(Path(path).with_suffix(""))] = round(seconds / 3600, 4)
        wall, cpu = wall + seconds, cpu + cpu_seconds
    return {"wall_hours": round(wall / 3600, 4), "cpu_hours": round(cpu / 3600, 4), "jobs": per_job}


def audio_files(corpora: list[dict]) -> dict:
    """Per corpus: files kept and rejected, and kept files a strict check would have rejected (clipped,
    short, silent), from the rows of corpora.csv (one per corpus and split)."""
    files = {}
    for row in corpora:
        counts = files.setdefault(row["corpus"], {"kept": row.get("kept_in_corpus"), "rejected": row.get("rejected_in_corpus"),
                                                  "clipped_kept": 0, "short_kept": 0, "silent_kept": 0})
        for key in ("clipped_kept", "short_kept", "silent_kept"):
            counts[key] += int(row.get(key) or 0)
    return files


def generation_scores(scores: dict) -> dict:
    """What metrics.json keeps of a generation's scores.json (in domain, or out of domain)."""
    return {"genppl": scores["genppl"]["genppl"],                 # prompt + continuation, as the paper
            "genppl_ci95": scores["genppl_ci95"],                 # a bootstrap over prompts
            "genppl_continuation": scores["genppl_continuation"]["genppl"], "samples": scores["samples"],
            "empty_transcripts": scores["genppl"]["empty"], "auto_bleu": scores["auto_bleu"], "auto_bleu_ci95": scores["auto_bleu_ci95"]}


def collect(run: str, description: str, data: str | None, likelihood_files: list[str], generation: str | None,
            judge: str | None, vocoder: str | None, training_files: list[str], timing_files: list[str],
            topline_files: list[str] = (), evaluated_model: str | None = None, protocol: str = "official",
            out_of_domain: str | None = None, mos: str | None = None, cross_modal: str | None = None) -> dict:
    """metrics.json of a run from the summaries its jobs wrote; ``evaluated_model`` names the speech_lms entry
    of a model evaluated without training (its run is eval/<name>); ``out_of_domain`` the scores of the
    generation from an out-of-domain corpus's prompts (the paper's appendix D.3)."""
    likelihood = {}
    for path in likelihood_files:
        result = read_json(path)
        # the headline: the official toolkit's plain mean over pairs, or ZeroSpeech 2021's mean over ids
        headline = "accuracy_zerospeech" if protocol == "zerospeech" else "accuracy"
        likelihood[result["benchmark"]] = {
            **{k: result[k] for k in ("accuracy_ci95", "accuracy_mean", "accuracy_sum", "accuracy_zerospeech", "pairs",
                                      "pairs_left_out", "aggregation", "interval")},
            "accuracy": result[headline], "protocol": protocol, "accuracy_official": result["accuracy"],
            # sBLIMP's types, SALMon's parts, sWUGGY's frequency bands
            "accuracy_by_group": {g: a[headline] for g, a in result["groups"].items()},
            "accuracy_by_group_ci95": {g: a["accuracy_ci95"] for g, a in result["groups"].items()},
            **({"in_vocabulary": {"accuracy": result["in_vocabulary"][headline], "pairs": result["in_vocabulary"]["pairs"],
                                  "accuracy_ci95": result["in_vocabulary"]["accuracy_ci95"]}} if result.get("in_vocabulary") else {}),
        }
    for path in topline_files:  # beside each speech accuracy, what a text LM does on the same pairs' text
        result = read_json(path)
        likelihood[result["benchmark"]].update(text_topline=result["accuracy"], text_topline_ci95=result["accuracy_ci95"],
                                               text_topline_pairs=result["pairs"], text_topline_model=result["model"])
    training = {}
    for path in training_files:
        summary = read_json(path)
        stage = {k: summary.get(k) for k in ("steps", "tokens", "training_seconds", "valid_loss", "parameters", "epochs",
                                             "device", "processes", "precision", "budget", "tokens_per_step", "training_flops")
                 if summary.get(k) is not None}
        if "training_seconds" in stage:  # beside steps and tokens: what a budget in hours or in steps gave
            stage["training_hours"] = round(stage["training_seconds"] / 3600, 4)
        training[Path(path).parent.name] = stage
        if "held_out" in summary:  # DPO: preference on held-out triples before and after
            stage["held_out"] = summary["held_out"]
        if "data" in summary:  # DPO: the pairs kept (the paper's SpokenSwag keeps ~47 k) and why the rest were not
            stage["pairs"] = summary["data"]
    generation = read_json(generation) if generation else None
    out_of_domain = generation_scores(read_json(out_of_domain)) if out_of_domain else None
    mos = read_json(mos) if mos else None
    judged = read_json(judge) if judge else {"gpt_score": None, "not_run": "evaluation.judge is null in the recipe"}
    data = read_json(data) if data else None
    vocoder = read_json(vocoder) if vocoder else None
    return {
        "run": run,
        "kind": "evaluated" if evaluated_model else "trained",
        "evaluated_model": evaluated_model,
        "recipe": description,
        "commit": git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": data and {
            "hours": {f"{c['corpus']}/{c['split']}": c["hours"] for c in data["corpora"]},
            "audio_files": audio_files(data["corpora"]),
            "pretraining_tokens": data["packing"]["train"]["tokens"],
            "fill_ratio": data["packing"]["train"]["fill_ratio"],
            "packed": data["packed_dir"],
            # an interleaved run's mixture: each source's share of the tokens, the units' share, the probabilities
            **({"mixture": {k: data["packing"]["train"]["mixture"][k] for k in
                            ("token_shares", "speech_token_share", "sampling_probabilities", "scales")}}
               if "mixture" in data["packing"]["train"] else {}),
        },
        # the model's parameters (an interleaved model's text vocabulary makes it larger than a speech-only one)
        "parameters": next((t["parameters"] for t in training.values() if t.get("parameters")), None),
        "likelihood": likelihood,
        "generation": generation and {
            **generation_scores(generation),
            "empty_continuation_transcripts": generation["genppl_continuation"]["empty"],
            "genppl_empty_transcripts": generation["empty_transcripts"],
            "gpt_score": judged["gpt_score"],
            **({"gpt_score_not_run": judged["not_run"]} if "not_run" in judged else {"gpt_score_rated": judged.get("rated")}),
        },
        "generation_out_of_domain": out_of_domain,
        # the MOS proxy (appendix D.2): generated, resynthesised and real speech, each a mean with its interval
        "mos": mos and {kind: mos[kind] for kind in ("generated", "resynthesised", "ground_truth", "predictor", "difference")},
        # an interleaved run's cross-modal StoryCloze: each direction's accuracy with its interval
        "cross_modal": read_json(cross_modal)["directions"] if cross_modal else None,
        "vocoder": vocoder and {"resynthesis_wer": vocoder.get("resynthesis_wer"), "held_out": vocoder.get("held_out_utterances")},
        "training": training,
        "tokens_seen": {stage: t.get("tokens") for stage, t in training.items()},
        "compute": compute_used(timing_files),
    }


# The columns of the table across runs: (name, where in metrics.json, type). A run that lacks one
# (no DPO, no judge) gets an empty cell, not an error: the paths are read with json_extract.
TABLE_COLUMNS = [
    ("run", "$.run", "VARCHAR"), ("kind", "$.kind", "VARCHAR"),  # trained here, or evaluated (results/eval/<name>)
    ("recipe", "$.recipe", "VARCHAR"),
    ("sblimp", "$.likelihood.sblimp.accuracy", "DOUBLE"), ("sstorycloze", "$.likelihood.sstorycloze.accuracy", "DOUBLE"),
    ("tstorycloze", "$.likelihood.tstorycloze.accuracy", "DOUBLE"),
    ("swuggy", "$.likelihood.swuggy.accuracy", "DOUBLE"),  # all words, and those LibriSpeech has
    ("swuggy_in_vocabulary", "$.likelihood.swuggy.in_vocabulary.accuracy", "DOUBLE"),
    # each with its 95 % interval, as [low, high]
    ("sblimp_ci95", "$.likelihood.sblimp.accuracy_ci95", "VARCHAR"),
    ("sstorycloze_ci95", "$.likelihood.sstorycloze.accuracy_ci95", "VARCHAR"),
    ("tstorycloze_ci95", "$.likelihood.tstorycloze.accuracy_ci95", "VARCHAR"), ("genppl", "$.generation.genppl", "DOUBLE"),
    ("genppl_ci95", "$.generation.genppl_ci95", "VARCHAR"),
    ("genppl_out_of_domain", "$.generation_out_of_domain.genppl", "DOUBLE"),  # People's Speech prompts (appendix D.3)
    ("mos_generated", "$.mos.generated.mean", "DOUBLE"),  # the MOS proxy, when a recipe names its predictor
    ("auto_bleu", "$.generation.auto_bleu", "DOUBLE"), ("gpt_score", "$.generation.gpt_score", "DOUBLE"),
    ("empty_transcripts", "$.generation.empty_transcripts", "BIGINT"),
    # steps, tokens and hours side by side: a day of one GPU and the paper's step counts are different runs
    ("pretrain_steps", "$.training.pretrained.steps", "BIGINT"), ("pretrain_tokens", "$.training.pretrained.tokens", "BIGINT"),
    ("pretrain_hours", "$.training.pretrained.training_hours", "DOUBLE"),
    ("pretrain_precision", "$.training.pretrained.precision", "VARCHAR"),
    ("dpo_steps", "$.training.dpo.steps", "BIGINT"), ("dpo_tokens", "$.training.dpo.tokens", "BIGINT"),
    ("dpo_hours", "$.training.dpo.training_hours", "DOUBLE"),
    ("device", "$.training.pretrained.device", "VARCHAR"), ("wall_hours", "$.compute.wall_hours", "DOUBLE"),
    ("commit", "$.commit", "VARCHAR"),
]
TABLE_QUERY = ("SELECT " + ", ".join(f"TRY_CAST(json_extract_string(json, '{path}') AS {kind}) AS \"{name}\""
                                     for name, path, kind in TABLE_COLUMNS)
               + " FROM read_json_objects($files, format = 'auto') ORDER BY run")


def table(files: list[str], out: str) -> None:
    import duckdb

    for path in files:  # DuckDB would name neither the broken file nor how to make it again
        read_json(path)
    with duckdb.connect() as db:
        rows = db.execute(TABLE_QUERY, {"files": files}).fetchall()
        columns = [d[0] for d in db.description]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


# The equal-compute comparison of a speech-only and an interleaved run (the paper's section 4.3): per run,
# (column, where in metrics.json).
EQUAL_COMPUTE_COLUMNS = [
    ("parameters", "parameters"), ("steps", "training.pretrained.steps"), ("tokens", "training.pretrained.tokens"),
    ("training_flops", "training.pretrained.training_flops"), ("speech_token_share", "data.mixture.speech_token_share"),
    ("valid_loss", "training.pretrained.valid_loss"),
    ("sblimp", "likelihood.sblimp.accuracy"), ("sblimp_ci95", "likelihood.sblimp.accuracy_ci95"),
    ("sstorycloze", "likelihood.sstorycloze.accuracy"), ("sstorycloze_ci95", "likelihood.sstorycloze.accuracy_ci95"),
    ("tstorycloze", "likelihood.tstorycloze.accuracy"), ("tstorycloze_ci95", "likelihood.tstorycloze.accuracy_ci95"),
    ("cross_modal_s2t", "cross_modal.speech_to_text.accuracy"), ("cross_modal_t2s", "cross_modal.text_to_speech.accuracy"),
    ("cross_modal_t2t", "cross_modal.text_to_text.accuracy"), ("cross_modal_s2s", "cross_modal.speech_to_speech.accuracy"),
    ("genppl", "generation.genppl"), ("genppl_ci95", "generation.genppl_ci95"),
]


def metric_at(metrics: dict, where: str):
    """The value at a dotted path of a nested mapping (metrics.json, a run's settings), None where it has none."""
    value = metrics
    for key in where.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def equal_compute_rows(metrics: dict[str, dict]) -> list[dict]:
    """A row per run of ``EQUAL_COMPUTE_COLUMNS`` (``metrics``: run -> its metrics.json), and the share of the
    compared run's FLOPs each spent."""
    rows = [{"run": run, **{name: metric_at(m, where) for name, where in EQUAL_COMPUTE_COLUMNS}} for run, m in metrics.items()]
    first = rows[0]["training_flops"]
    for row in rows:
        row["flops_vs_first"] = row["training_flops"] / first if first and row["training_flops"] else None
    return rows


def comparisons(tables: list[tuple[str, str]]) -> list[dict]:
    """Every two runs scored on a benchmark, compared on the pairs both scored (joined on the pair's id):
    their accuracies and the paired bootstrap's difference, interval and p-value. ``tables`` are the
    per-pair tables, as (run, results/<run>/eval/<benchmark>.parquet)."""
    from itertools import combinations

    from slamming.artifacts import read_parquet
    from slamming.evaluation.likelihood import PAPER_AGGREGATION
    from slamming.evaluation.statistics import paired_difference

    by_benchmark: dict[str, dict[str, dict]] = {}
    for run, path in tables:
        benchmark = Path(path).stem
        rows = read_parquet(path).to_pylist()
        by_benchmark.setdefault(benchmark, {})[run] = {r["id"]: {**r, "item": r.get("item") or r["id"]} for r in rows}
    found, outcome = [], f"correct_{PAPER_AGGREGATION}"
    for benchmark, runs in sorted(by_benchmark.items()):
        for a, b in combinations(sorted(runs), 2):
            common = sorted(runs[a].keys() & runs[b].keys())
            first, second = [runs[a][i][outcome] for i in common], [runs[b][i][outcome] for i in common]
            test = paired_difference(first, second, [runs[a][i]["item"] for i in common])
            found.append({"benchmark": benchmark, "run_a": a, "run_b": b, "pairs": test["pairs"],
                          "pairs_not_shared": len(runs[a].keys() ^ runs[b].keys()),
                          "accuracy_a": sum(first) / len(first) if first else None,
                          "accuracy_b": sum(second) / len(second) if second else None,
                          "difference": test["difference"],
                          "difference_low": test["difference_ci95"] and test["difference_ci95"][0],
                          "difference_high": test["difference_ci95"] and test["difference_ci95"][1],
                          "p_value": test["p_value"], "test": test["test"]})
    return found


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
                      if r["split"] == split and r["loss"] not in ("", None)]
            if points:
                axis.plot(*zip(*points), marker="." if split == "valid" else None, label=split)
        axis.set_title(name)
        axis.set_xlabel("training minutes")
        axis.set_ylabel("loss")
        axis.legend()
    fig.tight_layout()
    fig.savefig(out, format="svg")


def copy_samples(manifest: str | Path, count: int, out: str | Path) -> None:
    """A few generated prompt-and-continuation files, for the report."""
    import shutil

    from slamming.artifacts import read_parquet

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in read_parquet(manifest).to_pylist() if r["id"].endswith(".full") and r["path"]]
    for row in rows[:count]:
        shutil.copy(row["path"], out / f"{row['id']}.flac")
