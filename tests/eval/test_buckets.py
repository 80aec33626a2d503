"""Bucket accuracy, confidence intervals and paired differences against hand-computed values."""

import numpy as np
import pytest

from rpt.eval.buckets import accuracy_with_ci, bucket_accuracy, paired_difference

THRESHOLDS = {"easy": 0.5, "medium": 1.0, "hard": 1.5}


def test_buckets_are_nested_by_strict_threshold():
    entropies = np.array([0.2, 0.5, 0.7, 1.0, 1.2, 1.6, 2.5, np.nan])
    correct = np.array([1, 1, 0, 1, 0, 1, 0, 1])
    result = bucket_accuracy(correct, entropies, THRESHOLDS)
    assert {k: r.n for k, r in result.items()} == {"all": 8, "easy": 5, "medium": 3, "hard": 2}
    assert result["all"].accuracy == 5 / 8
    assert result["easy"].accuracy == 2 / 5  # 0.7, 1.0, 1.2, 1.6, 2.5 -> 0, 1, 0, 1, 0
    assert result["medium"].accuracy == 1 / 3
    assert result["hard"].accuracy == 1 / 2


def test_wilson_interval_by_hand():
    result = accuracy_with_ci(np.array([1, 1, 1] + [0] * 7))
    assert result.accuracy == 0.3
    assert result.ci95 == pytest.approx((0.1078, 0.6032), abs=1e-4)


def test_fractional_scores_get_a_normal_interval():
    values = np.array([0.25, 0.5, 0.75, 1.0])  # mean 0.625, sd 0.3227, se 0.1614
    result = accuracy_with_ci(values)
    assert result.accuracy == 0.625
    assert result.ci95 == pytest.approx((0.625 - 1.959964 * 0.161374, 0.625 + 1.959964 * 0.161374), abs=1e-5)


def test_empty_bucket_is_nan_not_an_error():
    result = bucket_accuracy(np.array([1.0]), np.array([0.1]), THRESHOLDS)["hard"]
    assert result.n == 0 and np.isnan(result.accuracy)


def test_paired_difference_by_hand():
    first = np.array([1, 0, 0, 1, 0, 0])
    second = np.array([1, 1, 0, 1, 1, 0])
    entropies = np.array([0.1, 2.0, 2.0, 0.3, 1.7, 0.2])
    diff = paired_difference(first, second, entropies, THRESHOLDS)
    assert diff["all"].difference == pytest.approx(2 / 6)
    assert diff["hard"].n == 3 and diff["hard"].difference == pytest.approx(2 / 3)
    # deltas (0, 1, 0, 0, 1, 0): sd = sqrt(1/3 * ... ) -> sample sd 0.5164, se 0.2108
    assert diff["all"].ci95 == pytest.approx((1 / 3 - 1.959964 * 0.210819, 1 / 3 + 1.959964 * 0.210819), abs=1e-5)
