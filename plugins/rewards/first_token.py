"""The paper's looser reward: only the answer's first token has to be right."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rpt.api import NTPTask, PluginContext, Reward, RewardResult, first_token_ids


class FirstToken(Reward):
    """1 iff the answer's first token (policy tokenizer) is the ground-truth next token id, else 0.

    The answer is tokenised on its own, without special tokens, so its leading whitespace decides
    the token as it would in the document: "42" and " 42" are different byte-level-BPE tokens. Text
    after the first token is ignored (" 42 pears" matches " 42 apples"), but a different first token
    scores 0 even when it is a prefix of the right one (" 4" vs " 42"). When the ground-truth token
    is only the first bytes of a character, an answer whose first token is those bytes matches even
    if its character differs. An empty answer or a format error (None) scores 0.
    """

    def __init__(self) -> None:
        self.tokenizer: Any = None

    def setup(self, context: PluginContext) -> None:
        self.tokenizer = context.tokenizer

    def __call__(self, answers: Sequence[str | None], tasks: Sequence[NTPTask], group_size: int) -> RewardResult:
        if self.tokenizer is None:
            raise RuntimeError("FirstToken.setup(context) must be called before scoring")
        firsts = first_token_ids(self.tokenizer, answers)
        hits = [first == task.target_ids[0] for first, task in zip(firsts, tasks, strict=True)]
        return RewardResult(torch.tensor(hits, dtype=torch.float32))
