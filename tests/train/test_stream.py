"""The task stream: seeded passes over all rows, resumable mid-pass."""

import numpy as np
import pytest

from rpt.train.stream import StepIndices, TaskStream

ROWS = np.arange(10).reshape(5, 2)


def test_each_pass_is_a_permutation_of_all_rows():
    stream = TaskStream(ROWS, seed=0)
    first, second = stream.draw(5), stream.draw(5)
    for batch in (first, second):
        assert sorted(map(tuple, batch)) == sorted(map(tuple, ROWS))
    assert not np.array_equal(first, second)  # a fresh order per pass


def test_draws_continue_across_pass_boundaries():
    whole = TaskStream(ROWS, seed=3).draw(12)
    stream = TaskStream(ROWS, seed=3)
    pieces = np.concatenate([stream.draw(4), stream.draw(4), stream.draw(4)])
    np.testing.assert_array_equal(pieces, whole)


def test_a_restored_stream_draws_what_the_original_would_have():
    original = TaskStream(ROWS, seed=1)
    original.draw(7)
    restored = TaskStream(ROWS, seed=1)
    restored.load_state_dict(original.state_dict())
    np.testing.assert_array_equal(restored.draw(9), original.draw(9))


def test_restoring_onto_other_data_is_refused():
    state = TaskStream(ROWS, seed=0).state_dict()
    with pytest.raises(ValueError, match="same data"):
        TaskStream(ROWS[:3], seed=0).load_state_dict(state)


def test_step_indices_cover_the_remaining_steps():
    steps = StepIndices(first_step=3, max_steps=6)
    assert list(steps) == [3, 4, 5] and len(steps) == 3
