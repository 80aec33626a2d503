"""The ablation control for the entropy filter: as many positions, chosen uniformly at random."""

from __future__ import annotations

import numpy as np

from rpt.api import TokenFilter
from rpt.plugins.filters.entropy import EntropyFilter, log_kept_share


class RandomFilter(TokenFilter):
    """Keep as many positions as `entropy` would at the same setting, drawn uniformly among scored ones."""

    def __init__(self, threshold: float | None = None, top_fraction: float | None = None):
        self.matched = EntropyFilter(threshold=threshold, top_fraction=top_fraction)

    def __call__(self, positions: np.ndarray, entropies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        count = len(self.matched.hardest(entropies))
        pool = np.flatnonzero(np.isfinite(np.asarray(entropies, dtype=np.float64)))
        keep = np.sort(rng.choice(pool, size=count, replace=False))
        log_kept_share("random", len(keep), len(positions))
        return keep
