"""The rollout engine gets the policy's weights once per rollout, in the compute dtype, whatever the mini-batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from rpt.api import PluginContext, RolloutOutput, SamplingParams
from rpt.config import load_config
from rpt.plugins.rollout.hf import HFRollout
from rpt.train.run import train

#: one entry per push: (rollouts before it, dtypes pushed, largest gap to the live policy's weights)
PUSHES: list[tuple[int, set[torch.dtype], float]] = []


class RecordingRollout(HFRollout):
    """rollout=hf that records every weight push and compares it with the policy at that moment."""

    def setup(self, context: PluginContext) -> None:
        super().setup(context)
        PUSHES.clear()
        self.rollouts = 0

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> RolloutOutput:
        self.rollouts += 1
        return super().generate(prompts, params)

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        live = self.model.state_dict()
        pushed = dict(named_tensors)
        assert pushed.keys() == live.keys()
        gap = max((pushed[k].float() - live[k].to(pushed[k].dtype).float()).abs().max().item() for k in live)
        PUSHES.append((self.rollouts, {t.dtype for t in pushed.values()}, gap))


def test_one_push_per_step_with_four_mini_batches_in_the_compute_dtype(train_args):
    args = train_args("rollout=hf", "rollout.name=tests.train.test_weight_push.RecordingRollout",
                      "grpo.mini_batches=4", "trainer.max_steps=3", "strategy.param_dtype=bfloat16")
    train(load_config(args))
    # 3 rollouts, 4 optimizer steps after each: pushed before rollouts 2 and 3 only, never after the last update
    assert [rollouts for rollouts, _, _ in PUSHES] == [1, 2]
    assert all(dtypes == {torch.bfloat16} for _, dtypes, _ in PUSHES)
    assert all(gap == 0 for _, _, gap in PUSHES)  # the weights of the policy as it is at the rollout
