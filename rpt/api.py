"""The plugin API: the contracts plugins implement (rewards, token filters, rollout engines), what
they are given (`PluginContext`) and the few helpers they may use. The only `rpt` module a plugin
imports.

The core only talks to plugins through these classes, so a third-party plugin is a subclass
registered under an entry point (or named by dotted path in config). A plugin reads what it needs
of the run from the typed `PluginContext`, never from the whole config, and reports what it holds
in GPU memory to `rpt plan` through `memory_needs`. `docs/plugins.md` documents all of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rpt.data.tasks import NTPTask
from rpt.errors import RptError
from rpt.grpo.logprobs import response_logprobs
from rpt.matching import first_token_ids, prefix_match_correct
from rpt.models import load_scoring_lm, load_tokenizer
from rpt.padding import left_pad, right_pad
from rpt.parallel.collectives import full_weights
from rpt.plan_rollout import RolloutPlan, plan_rollout
from rpt.proxy.lm import last_logits
from rpt.rng import rng_state, set_rng_state
from rpt.sampling import SamplingParams

__all__ = [
    # contracts
    "Plugin", "Reward", "RewardResult", "TokenFilter", "Rollout", "RolloutOutput", "SamplingParams",
    "PluginContext", "MemoryQuery", "MemoryNeeds", "RolloutPlan", "NTPTask", "RptError",
    # helpers
    "left_pad", "right_pad", "response_logprobs", "last_logits", "load_tokenizer", "load_scoring_lm", "full_weights",
    "rng_state", "set_rng_state", "prefix_match_correct", "first_token_ids", "check_option", "plan_rollout",
]


def check_option(name: str, value: Any, ok: bool, rule: str) -> None:
    """Refuse a bad constructor option: `ValueError("<name> must be <rule>, got <value>")`, which the
    registry reports as a one-line config error."""
    if not ok:
        raise ValueError(f"{name} must be {rule}, got {value!r}")


@dataclass(frozen=True)
class MemoryQuery:
    """What `rpt plan` tells a plugin about one GPU's share of the run, to ask what the plugin holds."""

    gpu_bytes: float  # memory of one GPU
    policy_params: int  # parameters of the policy
    kv_bytes_per_token: int  # bf16 keys and values of every policy layer, for one token
    seq_len: int  # prompt + response tokens of one sample
    num_layers: int  # the policy's decoder layers
    num_kv_heads: int  # its key-value heads
    head_dim: int  # its attention head size
    prompts_per_rank: int  # trainer.prompts_per_step / data-parallel ranks
    samples: int  # sampling.n
    proxy_path: str | None  # model.proxy
    count_params: Callable[[str], int]  # parameters of a model, by folder or known hub name


@dataclass
class MemoryNeeds:
    """Per-GPU bytes a plugin adds to a training step (rows are `(label, bytes)`)."""

    held: list[tuple[str, float]] = field(default_factory=list)  # alive through the whole step
    rollout_extra: float = 0.0  # more, only while rollouts run (an engine's awake share)
    rollout: RolloutPlan | None = None  # a rollout engine's sequences at once and waves per step (`plan_rollout`)
    notes: list[str] = field(default_factory=list)  # reasons the run cannot work as configured


class Plugin(ABC):
    """What rewards and rollout engines share: setup with the run's context, and their memory for `rpt plan`."""

    def check(self, context: "PluginContext") -> None:
        """Raise `RptError` for a context the plugin cannot run with (a model it needs is not set).
        Called before a run creates its folder, with no policy loaded yet: load nothing here."""

    def setup(self, context: "PluginContext") -> None:
        """Load what the plugin needs (models, tokenizers, engines); called once before first use."""

    def memory_needs(self, query: MemoryQuery) -> MemoryNeeds:
        """GPU memory the plugin holds beyond the policy's training state (none by default)."""
        return MemoryNeeds()


@dataclass
class RewardResult:
    """Rewards in [0, 1], one per sample, plus plugin-specific metrics (logged as `reward/<key>`)."""

    values: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Reward(Plugin):
    """Scores extracted answers against their tasks' ground truth.

    `answers[i]` is the answer extracted from sample i, or None when the output had no
    parseable answer (a format error: the reward must be 0, never an exception). `tasks[i]`
    is sample i's task: samples come in groups of `group_size` consecutive entries that share
    one task (the same task repeated).
    """

    @abstractmethod
    def __call__(self, answers: Sequence[str | None], tasks: Sequence[NTPTask], group_size: int) -> RewardResult:
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
class RolloutOutput:
    """`n` samples per prompt, flattened prompt-major: sample j of prompt i is at i * n + j."""

    response_ids: list[list[int]]
    # the engine's log-probs of the sampled tokens (per token, softmax(logits / temperature)), or None
    # when the engine samples from the policy itself in the trainer's code path (rollout=hf): the
    # trainer's own log-probs are then the sampler's, with no gap to measure or correct
    response_logprobs: list[list[float]] | None
    texts: list[str]
    metrics: dict[str, float] = field(default_factory=dict)  # engine-specific, logged as `rollout/<key>`


class Rollout(Plugin):
    """Generates samples from the current policy (HF generate, vLLM, ...)."""

    @abstractmethod
    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> RolloutOutput:
        ...

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Push the policy's updated weights into the engine (no-op when it reads the policy directly)."""


@dataclass
class PluginContext:
    """What a plugin may need at setup, typed: the policy, its tokenizer and where they come from.

    The core fills it from the run's config (`model.*`, `strategy.param_dtype`,
    `grpo.logprob_chunk_tokens`); a plugin reads nothing else of the run.
    """

    tokenizer: Any  # the policy's (fast) tokenizer
    policy: torch.nn.Module | None = None  # the live policy being trained or evaluated
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where the policy runs
    policy_path: str | None = None  # the policy's Hugging Face folder or hub name (model.policy)
    tokenizer_path: str | None = None  # the tokenizer's folder or name (model.tokenizer, else policy_path)
    compute_dtype: str = "float32"  # the dtype the policy computes in: float32 | bfloat16 | float16
    logprob_chunk_tokens: int = 1024  # positions per chunk when computing log-probs (grpo.logprob_chunk_tokens)
    proxy_path: str | None = None  # the small scoring LM (model.proxy), when set
