"""How sure a metric is, and whether two models differ by more than chance.

An accuracy is a mean over pairs; its 95 % interval is a percentile bootstrap over *items*: item ids are
resampled, so the pairs of one item (the voices sLM21 speaks each sBLIMP item in) stay together. GenPPL
and auto-BLEU get theirs from a bootstrap over prompts. Two models scored on the same pairs are compared by
a paired bootstrap over items: the difference of their accuracies, its interval, and a two-sided p-value
(twice the share of resampled differences on the far side of zero). The seed is fixed: the same scores
give the same intervals.

None of the paper's toolkits reports uncertainty; these are ours, beside the paper's point estimates.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 10_000  # the percentiles of 10,000 resamples move by about 0.001 between seeds
LEVEL = 0.95
INTERVAL = f"{LEVEL:.0%} percentile bootstrap over items ({RESAMPLES} resamples)"
PAIRED_TEST = f"paired bootstrap over items ({RESAMPLES} resamples), two-sided"


def _item_sums(values, items) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the sum of its values and how many there are."""
    values = np.asarray(values, dtype=np.float64)
    if items is None:
        return values, np.ones_like(values)
    _, index = np.unique(np.asarray([str(i) for i in items]), return_inverse=True)
    return np.bincount(index, weights=values), np.bincount(index).astype(np.float64)


def bootstrap_means(values, items=None, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """The mean of ``values`` over ``resamples`` resamples of their items (each value's item in ``items``;
    None: every value its own item)."""
    sums, counts = _item_sums(values, items)
    n = len(sums)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 4_000_000 // max(n, 1))  # at most ~32 MB of indices at a time, also for 60 k items
    for start in range(0, resamples, chunk):
        picked = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        means[start:start + len(picked)] = sums[picked].sum(axis=1) / counts[picked].sum(axis=1)
    return means


def _percentiles(means: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))]


def interval(values, items=None, resamples: int = RESAMPLES, seed: int = 0) -> list[float] | None:
    """The 95 % percentile interval of the mean of ``values`` (None without values)."""
    if not len(values):
        return None
    return _percentiles(bootstrap_means(values, items, resamples, seed))


def paired_difference(a, b, items=None, resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Model A against model B on the same pairs (outcomes 1, 0.5 for a tie, 0, in the same order): the
    difference of their accuracies, its interval and the paired bootstrap's two-sided p-value."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"paired outcomes of different lengths: {len(a)} and {len(b)}")
    if not len(a):
        return {"pairs": 0, "difference": None, "difference_ci95": None, "p_value": None, "test": PAIRED_TEST}
    differences = a - b
    means = bootstrap_means(differences, items, resamples, seed)
    observed = float(differences.mean())
    # The share of resamples on the far side of zero from the observed difference, both tails.
    far = np.mean(means <= 0) if observed > 0 else np.mean(means >= 0) if observed < 0 else 1.0
    return {"pairs": int(len(a)), "difference": observed,
            "difference_ci95": _percentiles(means),
            "p_value": float(min(1.0, 2 * far)), "test": PAIRED_TEST}
