"""An example reward plugin: partial credit for a digit that is close to the right one.

`prefix_match` pays nothing for answering 7 where the text says 8; on arithmetic text a near miss
is a better answer than a far one, and this reward says so. Put it in an ablation next to the
paper's reward (run from the repository root so `examples` is importable):

    PYTHONPATH=. rpt ablate experiment=demo run.dir=runs/near \\
        'reward.name=prefix_match,examples.rewards.near_digit.NearDigit' seeds=3 baseline=ntp

Only the public plugin API is used: `Reward`, `RewardResult` and the task's fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rpt.api import Reward, RewardResult


class NearDigit(Reward):
    """1 when the answer starts with the next token's text; a digit for a digit earns partial · (1 − |a − b| / 9)."""

    def __init__(self, partial: float = 0.5) -> None:
        if not 0.0 <= partial <= 1.0:
            raise ValueError(f"partial must be in [0, 1], got {partial}")
        self.partial = partial

    def __call__(self, answers: Sequence[str | None], tasks: Sequence, group_size: int) -> RewardResult:
        values = [self.score(answer, task.next_token_text) for answer, task in zip(answers, tasks)]
        near = [v for v in values if 0.0 < v < 1.0]
        return RewardResult(torch.tensor(values), {"near_share": len(near) / max(1, len(values))})

    def score(self, answer: str | None, truth: str) -> float:
        if not answer or not truth:  # a format error or an empty answer scores 0
            return 0.0
        if answer.startswith(truth):
            return 1.0
        guess, right = answer.strip()[:1], truth.strip()
        if guess.isdigit() and right.isdigit() and len(right) == 1:
            return self.partial * (1.0 - abs(int(guess) - int(right)) / 9.0)
        return 0.0
