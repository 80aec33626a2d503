"""Strictest reward: the answer is exactly the ground-truth next token."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rpt.api import NTPTask, Reward, RewardResult


class ExactMatch(Reward):
    """1 iff the answer is exactly the decoded ground-truth next token, else 0.

    Strings are compared verbatim: no stripping, so the leading space a byte-level-BPE token owns
    (" 42") must be in the answer, and a missing or extra space scores 0. An empty answer, a format
    error (None), or the next token followed by more text (a multi-token answer) scores 0. When one
    character is split into several byte tokens, the "next token" is that whole character.
    """

    def __call__(self, answers: Sequence[str | None], tasks: Sequence[NTPTask], group_size: int) -> RewardResult:
        hits = [answer == task.next_token_text for answer, task in zip(answers, tasks, strict=True)]
        return RewardResult(torch.tensor(hits, dtype=torch.float32))
