"""The samples of one training step: groups of responses, and the padded tensors GRPO trains on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from rpt.padding import left_pad, right_pad

if TYPE_CHECKING:
    from rpt.data.tasks import NTPTask


@dataclass
class Groups:
    """`group_size` samples per task, prompt-major (sample j of task i at i * group_size + j)."""

    group_size: int
    tasks: list["NTPTask"] = field(default_factory=list)  # one per group
    prompts: list[list[int]] = field(default_factory=list)  # one per group
    responses: list[list[int]] = field(default_factory=list)  # one per sample
    answers: list[str | None] = field(default_factory=list)  # one per sample; None = format error
    rewards: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # one per sample
    logprobs: list[list[float]] | None = None  # one per sample: the rollout engine's, per token (None: it is the policy)

    def __len__(self) -> int:
        return len(self.tasks)

    def tokens(self) -> int:
        """Prompt + response tokens over all samples (each prompt counts once per sample)."""
        return sum(len(p) for p in self.prompts) * self.group_size + sum(len(r) for r in self.responses)

    def select(self, keep: torch.Tensor) -> "Groups":
        """The groups where `keep` (bool per group) is set."""
        groups = [i for i, k in enumerate(keep.tolist()) if k]
        samples = [i * self.group_size + j for i in groups for j in range(self.group_size)]
        return Groups(
            self.group_size,
            [self.tasks[i] for i in groups],
            [self.prompts[i] for i in groups],
            [self.responses[i] for i in samples],
            [self.answers[i] for i in samples],
            self.rewards[samples],
            None if self.logprobs is None else [self.logprobs[i] for i in samples],
        )

    def head(self, count: int) -> "Groups":
        """The first `count` groups."""
        return self.select(torch.arange(len(self)) < count)

    def __add__(self, other: "Groups") -> "Groups":
        return Groups(
            self.group_size,
            self.tasks + other.tasks,
            self.prompts + other.prompts,
            self.responses + other.responses,
            self.answers + other.answers,
            torch.cat([self.rewards, other.rewards]),
            None if self.logprobs is None or other.logprobs is None else self.logprobs + other.logprobs,
        )


@dataclass
class RolloutBatch:
    """Padded sequences for the policy update: prompts left-padded, responses right-padded.

    Per-token tensors are `[rows, response_len]`; `old_logprobs` / `ref_logprobs` are filled
    before the update, from the policy as it was when it sampled and from the frozen reference.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    advantages: torch.Tensor  # [rows]
    rollout_logprobs: torch.Tensor | None = None  # the rollout engine's log-probs of the response tokens
    old_logprobs: torch.Tensor | None = None
    ref_logprobs: torch.Tensor | None = None

    @classmethod
    def from_groups(cls, groups: Groups, advantages: torch.Tensor, pad_id: int, device: torch.device) -> "RolloutBatch":
        prompts = [p for p in groups.prompts for _ in range(groups.group_size)]
        prompt_ids, prompt_mask = left_pad(prompts, pad_id, device)
        response_ids, response_mask = right_pad(groups.responses, pad_id, device)
        rollout_logprobs = None
        if groups.logprobs is not None:
            rollout_logprobs = torch.zeros(response_ids.shape, dtype=torch.float32)
            for row, values in enumerate(groups.logprobs):
                rollout_logprobs[row, : len(values)] = torch.tensor(values, dtype=torch.float32)
            rollout_logprobs = rollout_logprobs.to(device)
        return cls(prompt_ids, prompt_mask, response_ids, response_mask, advantages.to(device), rollout_logprobs)

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    def rows(self, index: torch.Tensor) -> "RolloutBatch":
        """A sub-batch, with columns that are padding in every selected row trimmed away."""
        prompt_mask, response_mask = self.prompt_mask[index], self.response_mask[index]
        first = int((prompt_mask.sum(0) > 0).nonzero().min()) if prompt_mask.any() else prompt_mask.shape[1] - 1
        last = max(1, int(response_mask.sum(1).max()))
        crop = lambda t: None if t is None else t[index][:, :last]  # noqa: E731
        return replace(
            self,
            prompt_ids=self.prompt_ids[index][:, first:],
            prompt_mask=prompt_mask[:, first:],
            response_ids=crop(self.response_ids),
            response_mask=crop(self.response_mask),
            advantages=self.advantages[index],
            rollout_logprobs=crop(self.rollout_logprobs),
            old_logprobs=crop(self.old_logprobs),
            ref_logprobs=crop(self.ref_logprobs),
        )

    def split(self, parts: int) -> Iterator["RolloutBatch"]:
        """`parts` contiguous sub-batches of (nearly) equal size; empty ones are skipped."""
        for index in torch.arange(len(self)).tensor_split(parts):
            if len(index):
                yield self.rows(index)

    def chunks(self, size: int) -> Iterator["RolloutBatch"]:
        """Sub-batches of at most `size` rows (micro-batches)."""
        for index in torch.arange(len(self)).split(size):
            yield self.rows(index)
