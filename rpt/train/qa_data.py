"""The task source of question-answer tasks (data.kind=qa): the same stream and checkpointed position as
next-token tasks, over questions instead of corpus positions, so `GRPOModule` trains on either."""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from rpt.data.qa import QATask, read_qa_tasks
from rpt.train.data import TaskSource
from rpt.train.stream import TaskStream


class QASource(TaskSource):
    """Train and held-out questions; `stream` draws rows of question indices, `tasks(rows)` gives the questions.

    Held out: `trainer.val_tasks` questions of `data.qa.test_path` (a seeded sample), or, without one,
    `trainer.val_tasks` questions of `data.path` set aside (seeded) before training questions are chosen;
    train: the rest of `data.path`, or a seeded sample of `data.qa.train_size` of them.
    """

    def __init__(self, cfg: DictConfig, tokenizer: Any) -> None:
        super().__init__(cfg, tokenizer)
        self.questions: list[QATask] = []

    def setup(self) -> None:
        if self.questions:
            return
        cfg, qa = self.cfg, self.cfg.data.qa
        rng = np.random.default_rng(cfg.data.seed)
        pool = read_qa_tasks(cfg.data.path, cfg.data.split, qa, cfg.data.max_documents)
        if qa.test_path:
            held_out = read_qa_tasks(qa.test_path, qa.test_split, qa)
            train = np.arange(len(pool))
        else:
            order = rng.permutation(len(pool))
            count = min(cfg.trainer.val_tasks, len(pool) - 1)
            held_out, train = [pool[i] for i in np.sort(order[:count])], np.sort(order[count:])
        if qa.train_size is not None and qa.train_size < len(train):
            train = np.sort(rng.choice(train, size=qa.train_size, replace=False))
        self.questions = pool
        self.stream = TaskStream(train[:, None], seed=cfg.trainer.seed)
        picks = np.random.default_rng(cfg.trainer.seed).permutation(len(held_out))[: cfg.trainer.val_tasks]
        self.val_tasks = [held_out[i] for i in np.sort(picks)]

    def tasks(self, rows: np.ndarray) -> list[QATask]:
        """The question of each row (a one-column array of indices into the training pool)."""
        return [self.questions[int(row[0])] for row in rows]
