"""One recipe trained under several seeds: each metric's mean, min and max, as the paper's tables report
three seeds ("± indicates distance to min/max of 3 seeds"), and each benchmark pair's outcome averaged
over the seeds, which the paired test compares between recipes (``slamming.evaluation.reporting.comparisons``).

Pure functions over the runs' metrics.json and per-pair tables: no model is called.
"""

from __future__ import annotations

import numpy as np

from slamming.evaluation.likelihood import PAPER_AGGREGATION, accuracies
from slamming.evaluation.statistics import INTERVAL

OUTCOME = f"correct_{PAPER_AGGREGATION}"


def _at(metrics: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(metrics, dict) or metrics.get(key) is None:
            return None
        metrics = metrics[key]
    return metrics


def seed_metrics(metrics: dict) -> dict[str, tuple[str, ...]]:
    """The metrics a set of seeds is summarised by, as paths into metrics.json: each benchmark's accuracy
    (and sWUGGY's in-vocabulary one), GenPPL, auto-BLEU, and each training stage's final validation loss."""
    paths = {}
    for benchmark, result in sorted(metrics.get("likelihood", {}).items()):
        paths[benchmark] = ("likelihood", benchmark, "accuracy")
        if "in_vocabulary" in result:
            paths[f"{benchmark}_in_vocabulary"] = ("likelihood", benchmark, "in_vocabulary", "accuracy")
    paths |= {"genppl": ("generation", "genppl"), "auto_bleu": ("generation", "auto_bleu")}
    for stage in sorted(metrics.get("training", {})):
        paths[f"{stage}_valid_loss"] = ("training", stage, "valid_loss")
    return paths


def spread(values: dict[int, float]) -> dict:
    """A metric over seeds: mean, min, max, and the distances from the mean to them (the paper's ±)."""
    numbers = np.array(list(values.values()), dtype=np.float64)
    mean = float(numbers.mean())
    return {"mean": mean, "min": float(numbers.min()), "max": float(numbers.max()),
            "below": mean - float(numbers.min()), "above": float(numbers.max()) - mean,
            "by_seed": {str(seed): value for seed, value in values.items()}}


def averaged_pairs(tables: dict[int, list[dict]]) -> tuple[list[dict], int]:
    """Each pair's outcome averaged over the seeds' per-pair tables (``{seed: rows}``), for the pairs every
    seed scored; and how many pairs some seed did not score."""
    by_seed = {seed: {r["id"]: r for r in rows} for seed, rows in tables.items()}
    shared = set.intersection(*(set(rows) for rows in by_seed.values())) if by_seed else set()
    every = set.union(*(set(rows) for rows in by_seed.values())) if by_seed else set()
    first = next(iter(by_seed.values()), {})
    averaged = [{"id": pair, "item": first[pair].get("item") or pair, "group": first[pair].get("group"),
                 OUTCOME: float(np.mean([rows[pair][OUTCOME] for rows in by_seed.values()])), "seeds": len(by_seed)}
                for pair in sorted(shared)]
    return averaged, len(every - shared)


def over_seeds(recipe: str, metrics: dict[int, dict], averaged: dict[str, list[dict]]) -> dict:
    """seeds.json: the runs of each seed, each metric's spread over them (a metric some seed lacks is left
    out and named), and per benchmark the accuracy of the averaged outcomes with its interval over items."""
    paths = {}
    for run_metrics in metrics.values():
        paths |= seed_metrics(run_metrics)
    spreads, incomplete = {}, []
    for name, path in paths.items():
        values = {seed: _at(m, path) for seed, m in metrics.items()}
        if any(v is None for v in values.values()):
            incomplete.append(name)
            continue
        spreads[name] = spread(values)
    benchmarks = {benchmark: {**accuracies(rows, OUTCOME), "interval": INTERVAL} for benchmark, rows in sorted(averaged.items())}
    return {"recipe": recipe, "seeds": sorted(metrics), "runs": {str(seed): m["run"] for seed, m in sorted(metrics.items())},
            "metrics": spreads, "not_in_every_seed": incomplete,
            "averaged_over_seeds": benchmarks}
