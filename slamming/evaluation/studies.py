"""A study's table and plot (``slamming.workflow.studies`` expands a study into runs): per variant each metric's
mean over the seeds with its min and max (the paper's ±), each benchmark's accuracy of the pair outcomes
averaged over the seeds with its interval over items, and a paired bootstrap against the reference variant
on the pairs both scored: does the variant differ by more than chance.

Pure functions over the runs' metrics.json, per-pair tables and training logs: no model is called.
"""

from __future__ import annotations

from slamming.evaluation.likelihood import accuracies
from slamming.evaluation.reporting import metric_at
from slamming.evaluation.seeds import OUTCOME, averaged_pairs, spread
from slamming.evaluation.statistics import paired_difference

SIGNIFICANCE = 0.05  # a variant "differs" from the reference when the paired test's p-value is below this


def study_rows(study: dict, metrics: dict[str, dict], pairs: dict[str, dict[str, list[dict]]], where: dict[str, str],
               paired: tuple[str, ...]) -> list[dict]:
    """A row per variant. ``study``: its variants (run, members {seed: run}, settings) and metrics, the first
    variant the reference; ``metrics``: run -> metrics.json; ``pairs``: run -> benchmark -> per-pair rows;
    ``where``: metric -> its path in metrics.json; ``paired``: the metrics that are benchmark accuracies."""
    averaged = {}
    for variant in study["variants"]:
        members = variant["members"]
        averaged[variant["run"]] = {benchmark: averaged_pairs({seed: pairs[run][benchmark] for seed, run in members.items()})[0]
                                    for benchmark in study["metrics"] if benchmark in paired
                                    and all(benchmark in pairs.get(run, {}) for run in members.values())}
    reference = study["variants"][0]["run"]
    rows = []
    for variant in study["variants"]:
        members = variant["members"]
        row = {"variant": variant["run"], "reference": variant["run"] == reference, "seeds": len(members),
               **{f"setting:{key}": value for key, value in variant["settings"].items()}}
        for metric in study["metrics"]:
            values = {seed: metric_at(metrics[run], where[metric]) for seed, run in members.items()}
            if any(v is None for v in values.values()):
                row[metric] = None
                continue
            spread_ = spread(values)
            row[metric], row[f"{metric}_min"], row[f"{metric}_max"] = spread_["mean"], spread_["min"], spread_["max"]
            outcomes = averaged[variant["run"]].get(metric)
            if outcomes is None:
                continue
            row[f"{metric}_ci95"] = accuracies(outcomes, OUTCOME)["accuracy_ci95"]
            if variant["run"] != reference and metric in averaged[reference]:
                mine = {r["id"]: r for r in outcomes}
                theirs = {r["id"]: r for r in averaged[reference][metric]}
                common = sorted(mine.keys() & theirs.keys())
                test = paired_difference([mine[i][OUTCOME] for i in common], [theirs[i][OUTCOME] for i in common],
                                         [mine[i]["item"] for i in common])
                row[f"{metric}_difference"] = test["difference"]
                row[f"{metric}_difference_ci95"] = test["difference_ci95"]
                row[f"{metric}_p"] = test["p_value"]
                row[f"{metric}_differs"] = test["p_value"] is not None and test["p_value"] < SIGNIFICANCE
        rows.append(row)
    return rows


def loss_curves(log_rows: list[dict], training_flops: float | None, tokens: int | None) -> tuple[list[float], list[float]]:
    """The validation loss of a training log against training FLOPs (its tokens at each validation, scaled by the
    run's FLOPs per token: FLOPs grow with tokens, attention included on average)."""
    per_token = training_flops / tokens if training_flops and tokens else None
    points = [(float(r["tokens"]) * (per_token or 1.0), float(r["loss"])) for r in log_rows if r["split"] == "valid"]
    return [x for x, _ in points], [y for _, y in points]
