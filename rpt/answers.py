"""One sampling round, the same for training, validation and reasoning eval: tasks -> prompts ->
samples from the rollout plugin -> extracted answers -> rewards from the reward plugin."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from rpt.api import NTPTask, Reward, RewardResult, Rollout, RolloutOutput, SamplingParams
from rpt.data.prompts import PromptFormat


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


def sample_answers(
    tasks: Sequence[NTPTask],
    rollout: Rollout,
    reward: Reward,
    prompt: PromptFormat,
    params: SamplingParams,
    phase: Phase = no_phase,
) -> ScoredSamples:
    """Render each task's prompt, sample `params.n` responses, read their answers and reward them
    (`phase` times the rollout and the reward)."""
    prompts = [prompt.render(t) for t in tasks]
    with phase("rollout"):
        output = rollout.generate(prompts, params)
    with phase("reward"):
        answers = [prompt.extract(text) for text in output.texts]
        result = reward(answers, [t for t in tasks for _ in range(params.n)], params.n)
    return ScoredSamples(prompts, output, answers, result)
