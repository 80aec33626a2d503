"""A seeded, resumable stream of training positions, and the step counter Lightning iterates over.

The module draws prompts itself (dynamic sampling may need more than one batch per step), so
Lightning's dataloader yields step numbers, not data: nothing is prefetched, and the stream's
position in a checkpoint is exactly what the finished steps consumed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import IterableDataset


class TaskStream:
    """Rows of a fixed table (here `(doc_id, position)`), in a fresh seeded permutation per pass.

    `draw(n)` continues where the last draw stopped, across pass boundaries; `state_dict` is
    (pass, cursor), so a resumed stream continues with exactly the rows it would have drawn.
    """

    def __init__(self, rows: np.ndarray, seed: int) -> None:
        if len(rows) == 0:
            raise ValueError("the task stream needs at least one row")
        self.rows = rows
        self.seed = seed
        self.epoch = 0
        self.cursor = 0
        self._order = self._permutation(0)

    def draw(self, n: int) -> np.ndarray:
        picks = []
        while n > 0:
            take = min(n, len(self.rows) - self.cursor)
            picks.append(self._order[self.cursor : self.cursor + take])
            self.cursor += take
            n -= take
            if self.cursor == len(self.rows):
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
        return self.rows[np.concatenate(picks)] if picks else self.rows[:0]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor, "rows": len(self.rows)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["rows"] != len(self.rows):
            raise ValueError(
                f"the checkpoint's task stream had {state['rows']} positions, this run has {len(self.rows)}: "
                "resume with the same data, filter and scores"
            )
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        self._order = self._permutation(self.epoch)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))


class StepIndices(IterableDataset):
    """The step numbers still to run, `first_step` to `max_steps - 1` (a resumed run starts mid-way)."""

    def __init__(self, first_step: int, max_steps: int) -> None:
        self.first_step = first_step
        self.max_steps = max_steps

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first_step, self.max_steps))

    def __len__(self) -> int:
        return max(0, self.max_steps - self.first_step)
