"""Reasoning-mode evaluation: the model answers each task through the prompt template (thinking
first, for the boxed templates), samples come from the rollout plugin, and the reward plugin
scores the extracted answers. Pass@1 is the mean reward over k samples; pass@k the best of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from rpt.answers import sample_answers
from rpt.data.prompts import PromptFormat
from rpt.registry import build, plugin_context
from rpt.sampling import sampling_params

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rpt.data.tasks import NTPTask


@dataclass
class SampledAnswers:
    """k samples per task, task-major (sample j of task i at i * k + j), with their rewards [tasks, k]."""

    texts: list[str]
    answers: list[str | None]
    rewards: np.ndarray

    @property
    def pass_at_1(self) -> np.ndarray:
        """Per task: the expected reward of one sample (Random@1)."""
        return self.rewards.mean(axis=1)

    @property
    def pass_at_k(self) -> np.ndarray:
        """Per task: the best reward among its k samples (Pass@k)."""
        return self.rewards.max(axis=1)


def sample_and_reward(
    cfg: "DictConfig",
    model_name: str,
    model: torch.nn.Module,
    tokenizer,
    tasks: list["NTPTask"],
    template: str,
    samples: int,
    progress: bool = True,
) -> SampledAnswers:
    """Sample `samples` answers per task from `model` with the configured rollout and reward plugins.

    Tasks go in chunks of eval.batch_size; chunk i is sampled with seed sampling.seed + i, so a
    rerun draws the same samples.
    """
    context = plugin_context(cfg, tokenizer, model, policy_path=model_name)
    prompt = PromptFormat.from_config(cfg.prompt, tokenizer, template)
    rollout, reward = build("rollout", cfg.rollout), build("reward", cfg.reward)
    rollout.setup(context)
    reward.setup(context)
    texts: list[str] = []
    answers: list[str | None] = []
    rewards: list[torch.Tensor] = []
    chunk = cfg.eval.batch_size
    for index, start in enumerate(tqdm(range(0, len(tasks), chunk), desc=f"sample ({template})", unit="batch",
                                       disable=not progress)):
        params = sampling_params(cfg.sampling, n=samples, seed=cfg.sampling.seed + index)
        scored = sample_answers(tasks[start : start + chunk], rollout, reward, prompt, params, cfg.reward.name)
        rewards.append(scored.rewards)
        texts += scored.output.texts
        answers += scored.answers
    return SampledAnswers(texts, answers, torch.cat(rewards).numpy().reshape(len(tasks), samples).astype(np.float64))
