"""Step metrics as torchmetrics means: weighted by how many samples/tokens each value covers,
and synced across data-parallel ranks when computed, so a logged value is the global one."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.distributed as dist
from torchmetrics import MeanMetric


class StepMetrics:
    """A fixed set of named weighted means, filled during one step (or validation pass), then read.

    The names are fixed up front because each `compute` is a collective when training is
    distributed: every rank must compute the same metrics in the same order.
    """

    def __init__(self, names: Sequence[str], device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._means = {name: MeanMetric(nan_strategy="ignore").to(self.device) for name in names}

    def to(self, device: torch.device | str) -> "StepMetrics":
        self.device = torch.device(device)
        for metric in self._means.values():
            metric.to(self.device)
        return self

    def update(self, name: str, value: torch.Tensor | float, weight: torch.Tensor | float = 1.0) -> None:
        """Add `value` (a scalar, or a tensor whose entries each count once) with `weight` per entry."""
        value = torch.as_tensor(value, dtype=torch.float32).detach().to(self.device).flatten()
        weight = torch.as_tensor(weight, dtype=torch.float32).detach().to(self.device).flatten()
        self._means[name].update(value, weight.expand_as(value))

    def update_masked(self, name: str, values: torch.Tensor, mask: torch.Tensor) -> None:
        """The mean of `values` over the entries where `mask` is set (a per-token mean)."""
        self.update(name, values, mask.float())

    def compute(self) -> dict[str, float]:
        """Each metric that saw data on some rank, then reset them all for the next step."""
        values = {}
        with warnings.catch_warnings():  # a metric with no update this step is simply left out
            warnings.filterwarnings("ignore", message=".*compute.*before.*update.*")
            for name, metric in self._means.items():
                value = float(metric.compute())
                metric.reset()
                if math.isfinite(value):
                    values[name] = value
        return values


def mean_over_ranks(metrics: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Plugin metrics (whose names may differ from call to call) averaged over calls and ranks."""
    local = list(metrics)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered: list[list[Mapping[str, float]] | None] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, local)
        local = [m for rank in gathered for m in (rank or [])]
    sums: dict[str, list[float]] = {}
    for entry in local:
        for name, value in entry.items():
            sums.setdefault(name, []).append(float(value))
    return {name: sum(v) / len(v) for name, v in sums.items()}
