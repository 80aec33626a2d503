"""Accuracy per difficulty bucket, with 95% confidence intervals, and paired differences between models.

The paper's buckets are nested by the difficulty model's top-16 entropy: easy = entropy > 0.5,
medium > 1.0, hard > 1.5 (so every hard position is also medium and easy). `all` holds every
evaluated position, scored or not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

Z95 = stats.norm.ppf(0.975)


class _Interval:
    """A result with a 95% interval `ci95`, written to JSON with the interval as a list."""

    def to_json(self) -> dict:
        return {**asdict(self), "ci95": list(self.ci95)}


@dataclass(frozen=True)
class BucketResult(_Interval):
    n: int
    accuracy: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Difference(_Interval):
    """Paired difference (second model minus first) on the same positions."""

    n: int
    difference: float
    ci95: tuple[float, float]


def bucket_masks(entropies: np.ndarray, thresholds: dict[str, float]) -> dict[str, np.ndarray]:
    """`all` plus one mask per bucket: entropy strictly above its threshold (NaN is in no bucket)."""
    entropies = np.asarray(entropies, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return {"all": np.ones(len(entropies), dtype=bool), **{name: entropies > t for name, t in thresholds.items()}}


def accuracy_with_ci(values: np.ndarray) -> BucketResult:
    """Mean of per-position scores in [0, 1] with a 95% interval.

    0/1 scores (greedy accuracy) get the Wilson score interval, which stays inside [0, 1] and
    is honest for small n; fractional scores (pass@1 averaged over samples) get mean ± 1.96 SE.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return BucketResult(0, math.nan, (math.nan, math.nan))
    mean = float(values.mean())
    if np.isin(values, (0.0, 1.0)).all():
        return BucketResult(n, mean, wilson_ci(int(values.sum()), n))
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return BucketResult(n, mean, (mean - half, mean + half))


def wilson_ci(hits: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of `hits` successes in `n` trials (inside [0, 1], honest for small n)."""
    ci = stats.binomtest(hits, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def bucket_accuracy(values: np.ndarray, entropies: np.ndarray, thresholds: dict[str, float]) -> dict[str, BucketResult]:
    """Accuracy with its 95% interval in `all` and in each difficulty bucket."""
    values = np.asarray(values, dtype=np.float64)
    return {name: accuracy_with_ci(values[mask]) for name, mask in bucket_masks(entropies, thresholds).items()}


def paired_difference(first: np.ndarray, second: np.ndarray, entropies: np.ndarray,
                      thresholds: dict[str, float]) -> dict[str, Difference]:
    """`second - first` per bucket, with a 95% interval from the per-position differences (paired)."""
    delta = np.asarray(second, dtype=np.float64) - np.asarray(first, dtype=np.float64)
    result = {}
    for name, mask in bucket_masks(entropies, thresholds).items():
        d = delta[mask]
        if len(d) == 0:
            result[name] = Difference(0, math.nan, (math.nan, math.nan))
            continue
        half = Z95 * float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.nan
        result[name] = Difference(len(d), float(d.mean()), (float(d.mean()) - half, float(d.mean()) + half))
    return result
