"""The paper's reward: the answer is the start of the ground truth and ends on one of its token boundaries."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rpt.api import NTPTask, Reward, RewardResult, prefix_match_correct


class PrefixMatch(Reward):
    """1 iff the answer is a prefix of the ground-truth continuation ending on a token boundary (the paper's reward).

    The answer's UTF-8 bytes must be a non-empty prefix of `task.target_text`'s bytes, and their
    length must be one of `task.boundaries`. So the next token alone (" 42") and several whole tokens
    (" 42 apples") score 1; half a token (" 4" of " 42") or a token plus part of the next scores 0.
    Comparison is bytewise and verbatim: whitespace counts, including the leading space a
    byte-level-BPE token owns. An empty answer or a format error (None) scores 0, and so does an
    answer longer than the stored continuation (`data.max_target_tokens` tokens), even if the document
    goes on that way. A multi-byte character split into byte tokens has a boundary only after its last
    byte, so an answer can never end inside a character.
    """

    def __call__(self, answers: Sequence[str | None], tasks: Sequence[NTPTask], group_size: int) -> RewardResult:
        hits = [prefix_match_correct(answer, task) for answer, task in zip(answers, tasks, strict=True)]
        return RewardResult(torch.tensor(hits, dtype=torch.float32))
