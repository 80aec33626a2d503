"""`rpt tasks`: print a few of the training tasks a config makes, to check the data and the filter by eye."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rpt.config import require
from rpt.data.corpus import tokenize_corpus
from rpt.data.tasks import make_task, select_tasks
from rpt.errors import RptError
from rpt.models import load_tokenizer
from rpt.registry import build

if TYPE_CHECKING:
    from omegaconf import DictConfig


def print_tasks(cfg: "DictConfig", count: int = 5) -> None:
    """Print a few train tasks: context tail, ground truth, boundaries (what `rpt tasks` shows)."""
    require(cfg, "data.path")
    tokenizer = load_tokenizer(cfg.model.tokenizer or _required_policy(cfg))
    corpus = tokenize_corpus(cfg.data, tokenizer)
    entropies = None
    if cfg.data.scores:
        from rpt.proxy.artifact import load_entropies

        entropies = load_entropies(cfg.data.scores, corpus)
    rows = select_tasks(cfg, corpus, "train", build("filter", cfg.filter), entropies)
    if len(rows) == 0:
        raise RptError("no task positions: documents are shorter than data.min_context_tokens, or the filter keeps none")
    picks = np.sort(np.random.default_rng(cfg.data.seed).choice(len(rows), size=min(count, len(rows)), replace=False))
    print(f"{len(corpus)} documents, {len(rows)} train positions kept by filter={cfg.filter.name}; showing {len(picks)}")
    for doc_id, position in rows[picks]:
        entropy = float(entropies[doc_id][position]) if entropies is not None else float("nan")
        task = make_task(corpus, doc_id, position, cfg.data, entropy)
        print(f"\n# doc {task.doc_id} position {task.position} ({len(task.context_ids)} context tokens, entropy {entropy:.3f})")
        print(f"  context    ...{task.context_text[-TAIL_CHARS:]!r}")
        print(f"  next token {task.next_token_text!r} (id {task.target_ids[0]})")
        print(f"  target     {task.target_text!r}")
        print(f"  boundaries {list(task.boundaries)}")


TAIL_CHARS = 60


def _required_policy(cfg: "DictConfig") -> str:
    require(cfg, "model.policy")
    return cfg.model.policy
