"""Rule study_table: a study's variants side by side (``slamming.evaluation.studies``): results/studies/<name>/
table.csv (a row per variant: its settings, each metric's mean over the seeds with min and max, each
accuracy's interval and its paired test against the reference variant), table.md, and plot.svg (each metric
per variant with its min and max over the seeds, and the validation loss against training FLOPs, as the
paper's Figures 2 to 4 draw it).

Command line::

    python -m workflow_scripts.study_table --study '{"name": "demo_init", "variants": [...], "metrics": [...]}' \\
        --out-dir results/studies/demo_init
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from slamming.artifacts import read_parquet
from slamming.evaluation.statistics import RESAMPLES
from slamming.evaluation.studies import loss_curves, study_rows
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.workflow.paths import metrics_file, model_dir, run_file, training_log
from slamming.workflow.studies import METRICS, PAIRED

log = logging.getLogger("study_table")


def cell(value, column: str = "") -> str:
    """A table.md cell: a setting a variant sets to null reads "null"; a p-value below the bootstrap's
    resolution "< 0.0001"."""
    if value is None:
        return "null" if column.startswith("setting:") else ""
    if column.endswith("_p") and isinstance(value, float) and value < 1 / RESAMPLES:
        return f"< {1 / RESAMPLES:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    return str(value)


def plot(study: dict, rows: list[dict], curves: dict[str, list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = study["metrics"]
    figure, axes = plt.subplots(1, len(metrics) + 1, figsize=(4 * (len(metrics) + 1), 3.6), squeeze=False)
    labels = [row["variant"].split("--", 1)[-1] if "--" in row["variant"] else "reference" for row in rows]
    for ax, metric in zip(axes[0], metrics):
        means = [row.get(metric) for row in rows]
        shown = [i for i, m in enumerate(means) if m is not None]
        ax.errorbar(shown, [means[i] for i in shown], fmt="o", capsize=4,
                    yerr=[[means[i] - rows[i][f"{metric}_min"] for i in shown], [rows[i][f"{metric}_max"] - means[i] for i in shown]])
        ax.set_xticks(range(len(rows)), labels, rotation=20, fontsize=8)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    ax = axes[0][-1]
    for run, (x, y) in curves.items():
        ax.plot(x, y, marker=".", label=run.split("--", 1)[-1] if "--" in run else run)
    ax.set_xlabel("training FLOPs")
    ax.set_title("validation loss")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    figure.suptitle(f"{study['name']}: {study['description']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--study", required=True, help="the expanded study as JSON (slamming.workflow.studies.expand)")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    study = json.loads(args.study)
    members = [run for variant in study["variants"] for run in variant["members"].values()]
    metrics = {run: json.loads(Path(metrics_file(run)).read_text()) for run in members}
    pairs = {run: {b: read_parquet(run_file(run, f"eval/{b}.parquet")).to_pylist() for b in study["metrics"]
                   if b in PAIRED and Path(run_file(run, f"eval/{b}.parquet")).exists()} for run in members}
    rows = study_rows(study, metrics, pairs, METRICS, PAIRED)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows)
    shown = ["variant", *(c for c in columns if c.startswith("setting:")), "seeds"]
    for metric in study["metrics"]:
        shown += [c for c in (metric, f"{metric}_min", f"{metric}_max", f"{metric}_ci95", f"{metric}_difference",
                              f"{metric}_p", f"{metric}_differs") if c in columns]
    lines = [f"# Study {study['name']}: {study['description']}", "",
             f"Reference: {study['variants'][0]['run']}; means over the seeds with their min and max; accuracies with the 95 % "
             "interval of the outcomes averaged over the seeds, and a paired bootstrap against the reference (differs: p < 0.05).",
             "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(cell(row[c], c) if c in row else "" for c in shown) + " |" for row in rows]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    curves = {}
    for variant in study["variants"]:
        run = next(iter(variant["members"].values()))
        log_path = Path(training_log(model_dir(run, "pretrained")))
        with open(log_path) as f:
            training = metrics[run]["training"]["pretrained"]
            curves[run] = loss_curves(list(csv.DictReader(f)), training.get("training_flops"), training.get("tokens"))
    plot(study, rows, curves, out / "plot.svg")
    log.info("%s:\n%s", out / "table.md", (out / "table.md").read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
