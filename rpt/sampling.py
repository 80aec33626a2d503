"""How rollouts sample, for any engine: one declaration that is both the `sampling` config group's
schema and what a rollout plugin's `generate` receives (exposed to plugins through `rpt.api`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from omegaconf import OmegaConf


@dataclass
class SamplingParams:
    n: int = 8  # samples per prompt: the GRPO group size (>= 2)
    temperature: float = 0.8  # 0 = greedy (validation only: a group of identical samples has no signal)
    top_p: float = 1.0
    max_tokens: int = 8192  # longest response, in tokens
    stop: list[str] = field(default_factory=list)  # a response ends after the first of these strings (or EOS)
    seed: int = 0  # rollouts of step s are seeded from (seed, s): resumed runs sample the same


def sampling_params(config: Any, **call: Any) -> SamplingParams:
    """The run's `sampling` config as the params of one `generate` call, with `call`'s fields (n, seed) replaced."""
    return replace(SamplingParams(**OmegaConf.to_container(config, resolve=True)), **call)
