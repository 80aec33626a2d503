"""One sampling round, the same for training, validation and reasoning eval: tasks -> prompts ->
samples from the rollout plugin -> extracted answers -> rewards from the reward plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rpt.api import NTPTask, Reward, RewardResult, Rollout, RolloutOutput, SamplingParams
from rpt.data.prompts import extract_answer, render_prompt


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
    tokenizer: Any,
    template: str,
    chat: bool,
    params: SamplingParams,
) -> ScoredSamples:
    """Render each task's prompt, sample `params.n` responses, read their answers and reward them."""
    prompts = [render_prompt(t, template, tokenizer, chat) for t in tasks]
    output = rollout.generate(prompts, params)
    answers = [extract_answer(text, template) for text in output.texts]
    result = reward(answers, [t for t in tasks for _ in range(params.n)], params.n)
    return ScoredSamples(prompts, output, answers, result)
