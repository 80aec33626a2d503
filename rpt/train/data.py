"""Training and validation tasks: the corpus, the token filter, a resumable task stream.

The module owns its `TaskSource` and draws from it; the source knows nothing of the module or the
Trainer (the dependency is one-way), and its stream position travels in the module's checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from rpt.data.corpus import TokenizedCorpus, tokenize_corpus
from rpt.data.tasks import NTPTask, make_task, select_tasks
from rpt.errors import RptError
from rpt.registry import build
from rpt.train.stream import TaskStream


class TaskSource:
    """Builds the train/val positions once; the module draws train tasks from `stream`.

    Train positions are the train documents' positions the token filter keeps; `val_tasks` are
    `trainer.val_tasks` of the held-out documents' kept positions (a seeded sample, fixed for
    the run). The stream's position is saved in checkpoints (`state_dict`).
    """

    def __init__(self, cfg: DictConfig, tokenizer: Any) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.corpus: TokenizedCorpus | None = None
        self.stream: TaskStream | None = None
        self.val_tasks: list[NTPTask] = []
        self._entropies: list[np.ndarray] | None = None

    def setup(self) -> None:
        if self.corpus is not None:
            return
        cfg = self.cfg
        self.corpus = tokenize_corpus(cfg.data, self.tokenizer)
        if cfg.data.scores:
            from rpt.proxy.artifact import load_entropies

            self._entropies = load_entropies(cfg.data.scores, self.corpus)
        token_filter = build("filter", cfg.filter)
        train_rows = select_tasks(cfg, self.corpus, "train", token_filter, self._entropies)
        if len(train_rows) == 0:
            raise RptError("no training positions: the corpus is too short for data.min_context_tokens, or the filter keeps none")
        self.stream = TaskStream(train_rows, seed=cfg.trainer.seed)
        val_rows = select_tasks(cfg, self.corpus, "val", token_filter, self._entropies)
        count = min(cfg.trainer.val_tasks, len(val_rows))
        picks = np.random.default_rng(cfg.trainer.seed).choice(len(val_rows), size=count, replace=False)
        self.val_tasks = self.tasks(val_rows[np.sort(picks)])

    def tasks(self, rows: np.ndarray) -> list[NTPTask]:
        """The NTP task at each (doc_id, position) row."""
        return [make_task(self.corpus, int(d), int(p), self.cfg.data, self._entropy(int(d), int(p))) for d, p in rows]

    def state_dict(self) -> dict[str, Any]:
        return {"stream": self.stream.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.stream.load_state_dict(state["stream"])
        except ValueError as err:
            raise RptError(str(err)) from None

    def _entropy(self, doc_id: int, position: int) -> float:
        return float(self._entropies[doc_id][position]) if self._entropies is not None else float("nan")
