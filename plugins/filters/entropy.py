"""Keep the positions the proxy finds hard (high top-k entropy of its next-token distribution), and its
ablation control: as many positions, chosen uniformly at random."""

from __future__ import annotations

import logging
import math

import numpy as np

from rpt.api import RptError, TokenFilter, check_option

log = logging.getLogger(__name__)


class EntropyFilter(TokenFilter):
    """Keep positions whose proxy top-k entropy is >= threshold, or the top fraction by entropy."""

    def __init__(self, threshold: float | None = None, top_fraction: float | None = None):
        if (threshold is None) == (top_fraction is None):
            raise ValueError("set exactly one of threshold (nats) and top_fraction (0..1]")
        if top_fraction is not None:
            check_option("top_fraction", top_fraction, 0.0 < top_fraction <= 1.0, "in (0, 1]")
        self.threshold = threshold
        self.top_fraction = top_fraction

    def __call__(self, positions: np.ndarray, entropies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keep = self.hardest(entropies)
        log_kept_share("entropy", len(keep), len(positions))
        return keep

    def hardest(self, entropies: np.ndarray) -> np.ndarray:
        """Indices of the kept positions, ascending; unscored (NaN) positions are never kept."""
        entropies = np.asarray(entropies, dtype=np.float64)
        scored = np.flatnonzero(np.isfinite(entropies))
        if len(entropies) and not len(scored):
            raise RptError("filter needs proxy entropies, but no position is scored: run `rpt score` and set data.scores")
        if self.threshold is not None:
            return scored[entropies[scored] >= self.threshold]
        count = math.ceil(self.top_fraction * len(scored))
        # Stable sort on negated entropy: equal entropies keep corpus order, so the choice is reproducible.
        by_entropy = scored[np.argsort(-entropies[scored], kind="stable")]
        return np.sort(by_entropy[:count])


def log_kept_share(name: str, kept: int, total: int) -> None:
    share = kept / total if total else 0.0
    log.info("filter %s kept %d of %d positions (%.1f%%)", name, kept, total, 100 * share)


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
