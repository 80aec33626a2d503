"""The power-law fit recovers known parameters from synthetic accuracy-vs-compute points."""

import numpy as np
import pytest

from rpt.errors import RptError
from rpt.eval.scaling import PowerLawFit, fit_power_law, training_flops


CASES = [(0.62, 0.25, 0.3), (0.45, 0.6, 0.2), (0.9, 0.1, 0.5)]


def synthetic(p_star, alpha, gap, noise):
    compute = np.logspace(18, 22, 10)
    a = gap * 1e18**alpha  # accuracy is p_star - gap at the first point
    accuracy = p_star - a * compute ** (-alpha) + np.random.default_rng(0).normal(0, noise, len(compute))
    return compute, accuracy, a


@pytest.mark.parametrize("p_star, alpha, gap", CASES)
def test_fit_recovers_known_parameters_within_5_percent(p_star, alpha, gap):
    compute, accuracy, a = synthetic(p_star, alpha, gap, noise=0.0)
    fit = fit_power_law(compute, accuracy)
    assert fit.p_star == pytest.approx(p_star, rel=0.05)
    assert fit.alpha == pytest.approx(alpha, rel=0.05)
    assert fit.a == pytest.approx(a, rel=0.05)
    assert fit.r2 == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("p_star, alpha, gap", CASES)
def test_noisy_points_still_give_the_asymptote_and_exponent(p_star, alpha, gap):
    # A is in units of C^α (C ~ 1e18..1e22), so a 1% error in α moves it by ~40%; the asymptote,
    # the exponent and the curve itself are what a noisy fit pins down.
    compute, accuracy, a = synthetic(p_star, alpha, gap, noise=0.001)
    fit = fit_power_law(compute, accuracy)
    assert fit.p_star == pytest.approx(p_star, rel=0.05)
    assert fit.alpha == pytest.approx(alpha, rel=0.05)
    assert np.abs(fit.predict(compute) - (p_star - a * compute ** (-alpha))).max() < 0.003
    assert fit.r2 > 0.99


def test_predict_and_r2_are_consistent():
    fit = PowerLawFit(p_star=0.5, a=10.0, alpha=0.5, r2=1.0)
    assert fit.predict(np.array([100.0, 10000.0])).tolist() == pytest.approx([-0.5, 0.4])
    compute = np.array([100.0, 400.0, 1600.0, 6400.0, 25600.0])
    exact = fit_power_law(compute, fit.predict(compute))
    assert exact.r2 == pytest.approx(1.0, abs=1e-9)


def test_flops_estimate_and_too_few_points():
    assert training_flops(1_500_000_000, 2e9) == 6 * 1.5e9 * 2e9
    with pytest.raises(RptError, match="at least 4 points"):
        fit_power_law(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3]))
