"""Soft rewards: a wrong answer earns the probability a scoring LM gives its first token.

With `scorer=policy, correct=first_token` this is the paper's dense reward (Appendix A), and with
`only_if_group_has_correct` its conditional dense reward: the presets `reward=dense` and
`reward=dense_conditional`. `reward=proxy_prob` (scored by the 1.5B proxy, prefix-match correct) is rpt's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rpt.api import (
    MemoryNeeds,
    MemoryQuery,
    NTPTask,
    PluginContext,
    Reward,
    RewardResult,
    RptError,
    check_option,
    first_token_ids,
    last_logits,
    load_scoring_lm,
    prefix_match_correct,
)

SCORERS = ("proxy", "policy")
CORRECTNESS = ("prefix_match", "first_token")


class ProxyProb(Reward):
    """1 if correct, else the scoring LM's probability of the answer's first token (soft reward).

    A correct answer scores 1: by the `prefix_match` rule (`correct=prefix_match`, the default) or
    when its first token is the ground truth's next token (`correct=first_token`, the `first_token`
    rule; the paper's dense reward, y[0] = x_t). Any other answer scores p(first token |
    context) under the scoring LM: the full-vocabulary softmax at the position after
    `task.context_ids`, for the answer's first token as `first_token` defines it (tokenised on its
    own, leading space included). An empty answer or a format error (None) scores 0. With
    `only_if_group_has_correct`, wrong answers score 0 in groups where no sample is correct.

    The scoring LM is `model.proxy` (`scorer=proxy`; it must share the policy's tokenizer, as the
    context ids are the policy's) or the policy being trained (`scorer=policy`). Every group's
    context is scored on every call, needed or not, so each data-parallel rank runs the same number
    of forward passes (an FSDP-sharded policy needs all ranks in each one).
    Metrics: `correct` (share of correct samples), `soft_mean` (mean soft value of the
    samples that got one; absent when none did).
    """

    def __init__(self, scorer: str = "proxy", only_if_group_has_correct: bool = False, batch_size: int = 16,
                 correct: str = "prefix_match"):
        check_option("scorer", scorer, scorer in SCORERS, f"one of {', '.join(SCORERS)}")
        check_option("correct", correct, correct in CORRECTNESS, f"one of {', '.join(CORRECTNESS)}")
        check_option("batch_size", batch_size, batch_size >= 1, ">= 1")
        self.scorer = scorer
        self.correct = correct
        self.only_if_group_has_correct = only_if_group_has_correct
        self.batch_size = batch_size
        self.model: torch.nn.Module | None = None
        self.tokenizer: Any = None

    def setup(self, context: PluginContext) -> None:
        self.tokenizer = context.tokenizer
        if self.scorer == "policy":
            if context.policy is None:
                raise RptError("reward proxy_prob with scorer=policy needs the policy model")
            self.model = context.policy
            return
        self.check(context)
        self.model = load_scoring_lm(context.proxy_path, context.tokenizer, context.device)

    def check(self, context: PluginContext) -> None:
        if self.scorer == "proxy" and not context.proxy_path:
            raise RptError("reward proxy_prob needs a scoring model: set model.proxy=PATH (a causal LM) or reward.scorer=policy")

    def memory_needs(self, query: MemoryQuery) -> MemoryNeeds:
        """A bf16 copy of the proxy on every GPU (the policy itself costs nothing more)."""
        if self.scorer != "proxy" or not query.proxy_path:
            return MemoryNeeds()
        return MemoryNeeds(held=[("proxy LM (reward=proxy_prob, bf16, full copy)", query.count_params(query.proxy_path) * 2)])

    def __call__(self, answers: Sequence[str | None], tasks: Sequence[NTPTask], group_size: int) -> RewardResult:
        if self.model is None:
            raise RuntimeError("ProxyProb.setup(context) must be called before scoring")
        if len(answers) != len(tasks) or len(answers) % group_size:
            raise ValueError(f"expected groups of {group_size} answers with one task each, got {len(answers)} answers, {len(tasks)} tasks")
        firsts = first_token_ids(self.tokenizer, answers)
        if self.correct == "first_token":
            hits = [first is not None and first == t.target_ids[0] for first, t in zip(firsts, tasks)]
        else:
            hits = [prefix_match_correct(a, t) for a, t in zip(answers, tasks)]
        correct = torch.tensor(hits, dtype=torch.bool)
        soft = self.first_token_probs(tasks[::group_size], firsts, group_size)
        gets_soft = torch.tensor([first is not None for first in firsts]) & ~correct
        if self.only_if_group_has_correct:
            gets_soft &= correct.view(-1, group_size).any(dim=1).repeat_interleave(group_size)
        values = torch.where(correct, 1.0, torch.where(gets_soft, soft, 0.0))
        metrics = {"correct": correct.float().mean().item()}
        if gets_soft.any():
            metrics["soft_mean"] = soft[gets_soft].mean().item()
        return RewardResult(values, metrics)

    def first_token_probs(self, group_tasks: Sequence[NTPTask], firsts: list[int | None], group_size: int) -> torch.Tensor:
        """p(first token | context) per sample (0 where there is no first token), one forward per group's context.

        The proxy runs under `inference_mode`; the policy under `no_grad` only, since an FSDP2 policy
        keeps the buffers it unshards into, and inference tensors there break its next training step.
        """
        with torch.no_grad() if self.scorer == "policy" else torch.inference_mode():
            return self._first_token_probs(group_tasks, firsts, group_size)

    def _first_token_probs(self, group_tasks: Sequence[NTPTask], firsts: list[int | None], group_size: int) -> torch.Tensor:
        ids = torch.tensor([-1 if first is None else first for first in firsts]).view(-1, group_size)
        probs = torch.zeros(ids.shape, dtype=torch.float32)
        for start in range(0, len(group_tasks), self.batch_size):
            batch = group_tasks[start : start + self.batch_size]
            logits = last_logits(self.model, [task.context_ids for task in batch], keep=1)[:, -1].float()
            rows = ids[start : start + len(batch)]
            picked = torch.softmax(logits, dim=-1).gather(1, rows.clamp(min=0).to(logits.device)).cpu()
            probs[start : start + len(batch)] = torch.where(rows >= 0, picked, 0.0)
        return probs.view(-1)
