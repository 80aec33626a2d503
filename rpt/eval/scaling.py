"""RPT's scaling law: next-token accuracy as a power law in training compute, per difficulty bucket.

accuracy(C) = P* − A · C^(−α): P* is the accuracy the run approaches, α how fast it gets there.
Compute C is training FLOPs, estimated as 6 · parameters · tokens processed (forward + backward).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import curve_fit

from rpt.errors import RptError


@dataclass(frozen=True)
class PowerLawFit:
    p_star: float
    a: float
    alpha: float
    r2: float

    def predict(self, compute: np.ndarray) -> np.ndarray:
        return self.p_star - self.a * np.asarray(compute, dtype=np.float64) ** (-self.alpha)

    def to_json(self) -> dict:
        return asdict(self)


def training_flops(n_params: int, tokens: float) -> float:
    """Forward and backward over `tokens` tokens: the usual 6 · N · D estimate."""
    return 6.0 * n_params * tokens


def fit_power_law(compute: np.ndarray, accuracy: np.ndarray) -> PowerLawFit:
    """Least-squares fit of accuracy = P* − A · C^(−α) (scipy `curve_fit`), with its R².

    Compute is divided by its smallest value while fitting (C spans 1e15..1e24, where C^(−α)
    underflows the optimiser's steps), and A is scaled back: A = A' · C_min^α.
    """
    compute = np.asarray(compute, dtype=np.float64)
    accuracy = np.asarray(accuracy, dtype=np.float64)
    if len(compute) < 4:
        raise RptError(f"a power-law fit has 3 parameters and needs at least 4 points, got {len(compute)}")
    if (compute <= 0).any():
        raise RptError("training compute must be positive at every point")
    scale = compute.min()
    x = compute / scale

    def model(x: np.ndarray, p_star: float, a: float, alpha: float) -> np.ndarray:
        return p_star - a * x ** (-alpha)

    start = (accuracy.max(), max(accuracy.max() - accuracy.min(), 1e-3), 0.5)
    try:
        (p_star, a_scaled, alpha), _ = curve_fit(
            model, x, accuracy, p0=start, bounds=([-np.inf, 0.0, 1e-6], [np.inf, np.inf, 10.0]), maxfev=20000
        )
    except RuntimeError as err:
        raise RptError(f"the power-law fit did not converge: {err}") from None
    residual = accuracy - model(x, p_star, a_scaled, alpha)
    total = ((accuracy - accuracy.mean()) ** 2).sum()
    r2 = 1.0 - float((residual**2).sum() / total) if total > 0 else math.nan
    return PowerLawFit(float(p_star), float(a_scaled * scale**alpha), float(alpha), r2)
