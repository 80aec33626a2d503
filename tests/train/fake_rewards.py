"""A reward plugin for tests, named by dotted path: `reward.name=tests.train.fake_rewards.ParityReward`."""

from __future__ import annotations

import torch

from rpt.api import Reward, RewardResult


class ParityReward(Reward):
    """Every sample of a task at an even position scores 1 (no signal); at odd positions, 1 0 1 0 ..."""

    def __call__(self, answers, tasks, group_size):
        values = [1.0 if t.position % 2 == 0 else float(i % 2 == 0) for i, t in enumerate(tasks)]
        return RewardResult(torch.tensor(values))


class SpaceReward(Reward):
    """1 when the answer starts with a space: an easy, context-free target for checking that GRPO learns."""

    def __call__(self, answers, tasks, group_size):
        return RewardResult(torch.tensor([float(bool(a) and a[0] == " ") for a in answers]))


class BadReward(Reward):
    """Returns `value` for the last sample (others 0.5), or one value too few with `short=true`."""

    def __init__(self, value: float = float("nan"), short: bool = False):
        self.value, self.short = value, short

    def __call__(self, answers, tasks, group_size):
        values = [0.5] * (len(answers) - 1) + ([] if self.short else [self.value])
        return RewardResult(torch.tensor(values))
