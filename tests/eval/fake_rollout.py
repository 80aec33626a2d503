"""A rollout plugin for tests, named by dotted path: every prompt gets the same fixed sample texts."""

from rpt.api import Rollout, RolloutOutput

TEXTS = ["<think>It is A.</think> \\boxed{A}", "So \\boxed{(B)}", "no box at all"]


class FixedTexts(Rollout):
    """Sample j of every prompt is TEXTS[j % 3]."""

    def __init__(self, batch_size: int = 64) -> None:  # the rollout group's options
        self.batch_size = batch_size

    def generate(self, prompts, params):
        texts = [TEXTS[j % len(TEXTS)] for _ in prompts for j in range(params.n)]
        return RolloutOutput([[0] for _ in texts], [[0.0] for _ in texts], texts)
