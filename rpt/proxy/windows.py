"""Overlapping windows that let one forward pass score many positions, each with its full context.

A task at position p sees `max_context_tokens` (C) tokens of its document before p (fewer only
at the document start). Scoring every position with one pass per position would cost C times
more than needed; scoring a plain chunked document would give the first positions of each chunk
a truncated context (easy tokens look hard). So the document is covered by windows of
W = C + S - 1 tokens that overlap by C - 1: the first window scores positions 1..W (each sees
its whole prefix, as the task does), every later window scores the next S positions, the first
of which sees exactly C tokens and the last C + S - 1. No position ever sees less context than
its task; a smaller stride S brings the context closer to exactly C at a higher cost
((C + S - 1) / S forwarded tokens per scored position).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Columns of a window plan: document, first input token, first scored position, end (exclusive).
#: The input is `ids[start:end - 1]`; its last `end - first` logits predict positions first..end-1.
DOC, START, FIRST, END = range(4)


def plan_windows(lengths: Sequence[int], max_context_tokens: int, stride: int) -> np.ndarray:
    """Windows covering positions 1..n-1 of every document exactly once: int64 rows (doc, start, first, end)."""
    if max_context_tokens < 1 or stride < 1:
        raise ValueError("max_context_tokens and stride must be at least 1")
    window = max_context_tokens + stride - 1
    rows = []
    for doc, n in enumerate(lengths):
        if n < 2:
            continue
        end = min(n, window + 1)
        rows.append((doc, 0, 1, end))
        while end < n:
            first, end = end, min(n, end + stride)
            rows.append((doc, first - max_context_tokens, first, end))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def input_lengths(windows: np.ndarray) -> np.ndarray:
    return windows[:, END] - 1 - windows[:, START]


def plan_batches(windows: np.ndarray, batch_tokens: int) -> list[np.ndarray]:
    """Group windows into batches of at most `batch_tokens` padded tokens.

    Longest first, so padding stays small; among equally long windows, those scoring the most
    positions first, so a document's first window (all of its positions) and its later ones
    (`stride` each) land in different batches and logits are computed for few unused columns.
    The grouping depends only on the plan, so a resumed run forms the same batches and
    therefore computes bit-identical values.
    """
    lengths = input_lengths(windows)
    order = np.lexsort((-(windows[:, END] - windows[:, FIRST]), -lengths))
    batches: list[np.ndarray] = []
    begin = 0
    while begin < len(order):
        longest = lengths[order[begin]]
        size = max(1, batch_tokens // longest)
        batches.append(order[begin : begin + size])
        begin += size
    return batches

