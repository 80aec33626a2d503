"""How rollouts sample, for any engine: one declaration that is both the `sampling` config group's
schema and what a rollout plugin's `generate` receives (exposed to plugins through `rpt.api`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from omegaconf import OmegaConf

from rpt.ranges import num


@dataclass
class SamplingParams:
    n: int = num(8, ge=1)  # samples per prompt: the GRPO group size (>= 2)
    temperature: float = num(0.8, ge=0)  # 0 = greedy (validation only: a group of identical samples has no signal)
    top_p: float = num(1.0, gt=0, le=1)
    max_tokens: int = num(8192, ge=1)  # longest response, in tokens
    stop: list[str] = field(default_factory=list)  # a response ends after the first of these strings (or EOS)
    seed: int = num(0, ge=0)  # rollouts of step s are seeded from (seed, s): resumed runs sample the same


def sampling_params(config: Any, **call: Any) -> SamplingParams:
    """The run's `sampling` config as the params of one `generate` call, with `call`'s fields (n, seed) replaced."""
    return replace(SamplingParams(**OmegaConf.to_container(config, resolve=True)), **call)
