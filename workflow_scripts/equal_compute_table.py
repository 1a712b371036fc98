"""Rule equal_compute_table: a speech-only run and an interleaved run trained at equal compute, side by side (the
paper's section 4.3): results/<interleaved run>/equal_compute.csv (a row per run: parameters, steps, tokens,
training FLOPs, the units' share of the tokens, validation loss, each benchmark's accuracy and interval, GenPPL)
and equal_compute.md (that table, and each benchmark's paired bootstrap over the pairs both runs scored).

Command line::

    python -m workflow_scripts.equal_compute_table --metrics results/demo/metrics.json results/demo_interleaved/metrics.json \\
        --tables results/demo/eval/sblimp.parquet results/demo_interleaved/eval/sblimp.parquet ... \\
        --out results/demo_interleaved/equal_compute.csv --markdown results/demo_interleaved/equal_compute.md
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from slamming.evaluation.reporting import EQUAL_COMPUTE_COLUMNS, comparisons, equal_compute_rows
from slamming.logs import run_stage, setup_logging, stage_parser
from slamming.workflow.paths import compared_name

log = logging.getLogger("equal_compute_table")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--metrics", nargs=2, required=True, help="the speech-only run's metrics.json, then the interleaved run's")
    parser.add_argument("--tables", nargs="*", default=[], help="both runs' per-pair tables of the benchmarks they share")
    parser.add_argument("--out", required=True)
    parser.add_argument("--markdown", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)
    metrics = {m["run"]: m for m in (json.loads(Path(p).read_text()) for p in args.metrics)}
    rows = equal_compute_rows(metrics)
    columns = ["run", *(name for name, _ in EQUAL_COMPUTE_COLUMNS), "flops_vs_first"]
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows)
    tests = comparisons([(compared_name(table), table) for table in args.tables])
    ratio = rows[-1]["flops_vs_first"]
    title = "at equal training FLOPs" if ratio and abs(ratio - 1) < 0.05 else (
        f"at {ratio:.2f} times the training FLOPs" if ratio else "(training FLOPs unknown)")
    lines = [f"# {' vs '.join(metrics)} {title}", "",
             "| | " + " | ".join(rows_run["run"] for rows_run in rows) + " |", "|---|" + "---|" * len(rows)]
    lines += [f"| {name} | " + " | ".join(cell(row[name]) for row in rows) + " |" for name in columns[1:]]
    lines += ["", "Paired bootstrap over the pairs both runs scored (difference = a - b):", "",
              "| benchmark | pairs | a | b | accuracy a | accuracy b | difference | 95 % interval | p |",
              "|---|---|---|---|---|---|---|---|---|"]
    for test in tests:
        lines.append(f"| {test['benchmark']} | {test['pairs']} | {test['run_a']} | {test['run_b']} | {cell(test['accuracy_a'])} | "
                     f"{cell(test['accuracy_b'])} | "
                     f"{cell(test['difference'])} | [{cell(test['difference_low'])}, {cell(test['difference_high'])}] | "
                     f"{cell(test['p_value'])} |")
    Path(args.markdown).write_text("\n".join(lines) + "\n")
    log.info("%s:\n%s", args.markdown, Path(args.markdown).read_text().rstrip())
    return 0


if __name__ == "__main__":
    run_stage(main)
