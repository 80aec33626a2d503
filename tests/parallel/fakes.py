"""Plugins for the multi-process tests, named by dotted path (`rollout.name=tests.parallel.fakes.FixedRollout`).

Each sample depends only on its prompt and its index in the group, never on the rank, seed or
batch it was generated in. So one process and N ranks given the same global batch train on
identical samples, and any difference in their updates comes from the data-parallel step.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from rpt.api import PluginContext, Reward, RewardResult, Rollout, RolloutOutput, SamplingParams


class FixedRollout(Rollout):
    """1 to `max_tokens` pseudo-random non-special tokens per sample (ragged lengths on purpose)."""

    def setup(self, context: PluginContext) -> None:
        self.tokenizer = context.tokenizer
        self.vocab = len(context.tokenizer)
        self.special = set(context.tokenizer.all_special_ids)

    def generate(self, prompts, params: SamplingParams) -> RolloutOutput:
        responses = []
        for prompt in prompts:
            key = zlib.crc32(np.asarray(prompt, dtype=np.int64).tobytes())
            for j in range(params.n):
                rng = np.random.default_rng([key, j])
                ids = [int(t) for t in rng.integers(0, self.vocab, size=int(rng.integers(1, params.max_tokens + 1)))]
                responses.append([t for t in ids if t not in self.special] or [int(self.vocab - 1)])
        texts = [self.tokenizer.decode(r) for r in responses]
        return RolloutOutput(responses, [[0.0] * len(r) for r in responses], texts)


class AlternatingReward(Reward):
    """1 0 1 0 ... within every group: every group has signal, whatever the samples say."""

    def __call__(self, answers, tasks, group_size):
        return RewardResult(torch.tensor([float(i % 2 == 0) for i in range(len(answers))]))
