"""Keep every candidate position."""

from __future__ import annotations

import numpy as np

from rpt.api import TokenFilter


class KeepAll(TokenFilter):
    """Keep every position (no proxy scores needed)."""

    def __call__(self, positions: np.ndarray, entropies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.arange(len(positions), dtype=np.int64)
