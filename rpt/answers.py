"""One sampling round, the same for training, validation and reasoning eval: tasks -> prompts ->
samples from the rollout plugin -> extracted answers -> rewards from the reward plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from rpt.api import NTPTask, Reward, RewardResult, Rollout, RolloutOutput, SamplingParams
from rpt.data.prompts import PromptFormat


@dataclass
class ScoredSamples:
    """`params.n` samples per task, task-major (sample j of task i at i * n + j), with answers and rewards."""

    prompts: list[list[int]]  # one per task
    output: RolloutOutput
    answers: list[str | None]  # None: a format error
    reward: RewardResult


def sample_answers(
    tasks: Sequence[NTPTask],
    rollout: Rollout,
    reward: Reward,
    prompt: PromptFormat,
    params: SamplingParams,
) -> ScoredSamples:
    """Render each task's prompt, sample `params.n` responses, read their answers and reward them."""
    prompts = [prompt.render(t) for t in tasks]
    output = rollout.generate(prompts, params)
    answers = [prompt.extract(text) for text in output.texts]
    result = reward(answers, [t for t in tasks for _ in range(params.n)], params.n)
    return ScoredSamples(prompts, output, answers, result)
