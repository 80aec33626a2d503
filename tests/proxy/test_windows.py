"""The window plan: every position scored once, never with less context than its task sees."""

import numpy as np
import pytest

from rpt.proxy.windows import DOC, END, FIRST, START, input_lengths, plan_batches, plan_windows


@pytest.mark.parametrize("context, stride", [(1, 1), (4, 1), (4, 3), (8, 8), (5, 20)])
def test_every_position_once_with_full_context(context, stride):
    lengths = [0, 1, 2, 5, 13, 40]
    windows = plan_windows(lengths, context, stride)
    assert (input_lengths(windows) <= context + stride - 1).all()
    for doc, n in enumerate(lengths):
        mine = windows[windows[:, DOC] == doc]
        positions = np.concatenate([np.arange(f, e) for f, e in mine[:, [FIRST, END]]] or [np.zeros(0, int)])
        assert sorted(positions) == list(range(1, max(n, 1)))
        for _, start, first, end in mine:
            for p in range(first, end):
                seen = p - start  # window input ids[start:p] precede position p
                assert seen >= min(p, context), "a position saw less context than its task"
                assert seen <= context + stride - 1


def test_first_window_starts_at_the_document_and_later_ones_overlap():
    windows = plan_windows([12], max_context_tokens=4, stride=3)
    # window = 4 + 3 - 1 = 6 tokens: positions 1..6 from the start, then 3 at a time with 4 tokens before the first
    assert windows[:, [START, FIRST, END]].tolist() == [[0, 1, 7], [3, 7, 10], [6, 10, 12]]


def test_batches_cover_every_window_within_the_token_budget():
    windows = plan_windows([3, 50, 7, 20, 9], max_context_tokens=6, stride=4)
    batches = plan_batches(windows, batch_tokens=20)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(windows)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * input_lengths(windows[batch]).max() <= 20
