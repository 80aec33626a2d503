"""The contracts that plugins implement: rewards, token filters and rollout engines.

The core only talks to plugins through these classes, so a third-party plugin is a
subclass registered under an entry point (or named by dotted path in config).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rpt.parallel.sharding import full_weights  # noqa: F401  (a rollout plugin pushes the policy with it)

if TYPE_CHECKING:
    from rpt.data.tasks import NTPTask


@dataclass
class RewardResult:
    """Rewards in [0, 1], one per sample, plus plugin-specific metrics (logged as `reward/<key>`)."""

    values: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Reward(ABC):
    """Scores extracted answers against their tasks' ground truth.

    `answers[i]` is the answer extracted from sample i, or None when the output had no
    parseable answer (a format error: the reward must be 0, never an exception). `tasks[i]`
    is sample i's task: samples come in groups of `group_size` consecutive entries that share
    one task (the same task repeated).
    """

    def setup(self, context: "PluginContext") -> None:
        """Load what the plugin needs (models, tokenizers); called once before the first call."""

    @abstractmethod
    def __call__(self, answers: Sequence[str | None], tasks: Sequence["NTPTask"], group_size: int) -> RewardResult:
        ...


class TokenFilter(ABC):
    """Chooses which corpus positions become training tasks.

    `entropies` holds the proxy's top-k entropy for each candidate position (NaN where
    unscored). Returns the indices into `positions` that are kept, sorted ascending.
    Must be deterministic for a given `rng` state.
    """

    @abstractmethod
    def __call__(self, positions: np.ndarray, entropies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ...


@dataclass
class SamplingParams:
    """How the rollout engine samples; mirrors the `sampling` config (any engine)."""

    n: int = 8
    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 8192
    stop: list[str] = field(default_factory=list)
    seed: int = 0


@dataclass
class RolloutOutput:
    """`n` samples per prompt, flattened prompt-major: sample j of prompt i is at i * n + j."""

    response_ids: list[list[int]]
    response_logprobs: list[list[float]]
    texts: list[str]
    metrics: dict[str, float] = field(default_factory=dict)  # engine-specific, logged as `rollout/<key>`


class Rollout(ABC):
    """Generates samples from the current policy (HF generate, vLLM, ...)."""

    def setup(self, context: "PluginContext") -> None:
        """Build the engine; called once before the first `generate`."""

    @abstractmethod
    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> RolloutOutput:
        ...

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Push the policy's updated weights into the engine (no-op when it reads the policy directly)."""


@dataclass
class PluginContext:
    """What a plugin may need at setup: the policy and its tokenizer, the run's config."""

    tokenizer: Any
    policy: torch.nn.Module | None = None
    config: Any = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
