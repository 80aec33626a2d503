"""Reasoning-mode evaluation: the model answers each task through the prompt template (thinking
first, for the boxed templates), samples come from the rollout plugin, and the reward plugin
scores the extracted answers. Pass@1 is the mean reward over k samples; pass@k the best of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from rpt.api import PluginContext, SamplingParams
from rpt.data.prompts import PromptFormat
from rpt.registry import build

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
    run_cfg = OmegaConf.merge(cfg, {"model": {"policy": model_name}, "prompt": {"template": template}})
    context = PluginContext(tokenizer=tokenizer, policy=model, config=run_cfg, device=next(model.parameters()).device)
    prompt = PromptFormat.from_config(cfg.prompt, tokenizer, template)
    rollout, reward = build("rollout", cfg.rollout), build("reward", cfg.reward)
    rollout.setup(context)
    reward.setup(context)
    s = cfg.sampling
    texts: list[str] = []
    answers: list[str | None] = []
    rewards: list[torch.Tensor] = []
    chunk = cfg.eval.batch_size
    for index, start in enumerate(tqdm(range(0, len(tasks), chunk), desc=f"sample ({template})", unit="batch",
                                       disable=not progress)):
        batch = tasks[start : start + chunk]
        prompts = [prompt.render(t) for t in batch]
        params = SamplingParams(n=samples, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                                stop=list(s.stop), seed=s.seed + index)
        output = rollout.generate(prompts, params)
        batch_answers = [prompt.extract(text) for text in output.texts]
        rewards.append(reward(batch_answers, [t for t in batch for _ in range(samples)], samples).values.float().cpu())
        texts += output.texts
        answers += batch_answers
    return SampledAnswers(texts, answers, torch.cat(rewards).numpy().reshape(len(tasks), samples).astype(np.float64))
