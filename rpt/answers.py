"""One sampling round, the same for training, validation and reasoning eval: tasks -> prompts ->
samples from the rollout plugin -> extracted answers -> rewards from the reward plugin, checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from rpt.api import NTPTask, Reward, RewardResult, Rollout, RolloutOutput, SamplingParams
from rpt.data.prompts import PromptFormat
from rpt.train.guards import checked_rewards


#: times a named part of the round (`rollout`, `reward`), e.g. `StepTimer.phase`
Phase = Callable[[str], AbstractContextManager]


def no_phase(name: str) -> AbstractContextManager:
    """Times nothing."""
    return nullcontext()


@dataclass
class ScoredSamples:
    """`params.n` samples per task, task-major (sample j of task i at i * n + j), with answers and rewards."""

    prompts: list[list[int]]  # one per task
    output: RolloutOutput
    answers: list[str | None]  # None: a format error
    reward: RewardResult
    rewards: torch.Tensor  # reward.values as float CPU values, checked: one per answer, finite, in [0, 1]


def sample_answers(
    tasks: Sequence[NTPTask],
    rollout: Rollout,
    reward: Reward,
    prompt: PromptFormat,
    params: SamplingParams,
    reward_name: str,
    phase: Phase = no_phase,
) -> ScoredSamples:
    """Render each task's prompt, sample `params.n` responses, read their answers and reward them
    (`phase` times the rollout and the reward); a bad reward batch stops with an `RptError` naming
    `reward_name`, so no caller can train or report on NaN or out-of-range rewards."""
    prompts = [prompt.render(t) for t in tasks]
    with phase("rollout"):
        output = rollout.generate(prompts, params)
    with phase("reward"):
        answers = [prompt.extract(text) for text in output.texts]
        result = reward(answers, [t for t in tasks for _ in range(params.n)], params.n)
        rewards = checked_rewards(result, answers, reward_name)
    return ScoredSamples(prompts, output, answers, result, rewards)
