"""The answer-matching rules that rewards share (exposed to plugins through `rpt.api`).

`prefix_match_correct` is the paper's correctness test; `first_token_ids` tokenises answers the way
`first_token` and `proxy_prob` compare them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rpt.data.tasks import NTPTask


def prefix_match_correct(answer: str | None, task: NTPTask) -> bool:
    """Whether `answer`'s UTF-8 bytes are a non-empty prefix of the ground truth ending on a token boundary."""
    if not answer:
        return False
    data = answer.encode("utf-8")
    return len(data) in task.boundaries and task.target_text.encode("utf-8").startswith(data)


def first_token_ids(tokenizer: Any, answers: Sequence[str | None]) -> list[int | None]:
    """Each answer's first token id, tokenised on its own without special tokens; None for None or ''."""
    texts = [answer for answer in answers if answer]
    encoded = iter(tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else [])
    firsts: list[int | None] = []
    for answer in answers:
        ids = next(encoded) if answer else []
        firsts.append(ids[0] if ids else None)
    return firsts
