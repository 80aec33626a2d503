"""NTP tasks: a corpus position turned into (context, ground-truth continuation, token boundaries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rpt.data.corpus import TokenizedCorpus, split_documents

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rpt.config import DataConfig


@dataclass(frozen=True)
class NTPTask:
    """One next-token-prediction task.

    `target_text` is the document text from the start of the next token up to the end of
    `target_ids`; `boundaries` are the UTF-8 byte lengths of `target_text`'s prefixes that end
    exactly on a token boundary (ascending, the last one == len(target_text.encode())).
    A token owns the whitespace before it, as in byte-level BPE (" 42").
    """

    doc_id: int
    position: int  # index of the next token within its document
    context_ids: tuple[int, ...]
    context_text: str
    target_ids: tuple[int, ...]
    target_text: str
    boundaries: tuple[int, ...]
    entropy: float = float("nan")  # proxy top-k entropy at this position, when scored

    @property
    def next_token_text(self) -> str:
        """The decoded ground-truth next token (the first boundary's bytes; '' for a task without one)."""
        first = self.boundaries[0] if self.boundaries else 0
        return self.target_text.encode("utf-8")[:first].decode("utf-8", errors="replace")


def candidate_positions(corpus: TokenizedCorpus, doc_ids: np.ndarray, min_context_tokens: int) -> np.ndarray:
    """Every (doc_id, position) whose next token has at least `min_context_tokens` tokens before it
    and starts a character.

    A token that continues a character split into byte tokens (CJK, emoji) is never a task: its
    context would end inside the character and its target would start inside it, which no text
    answer can match.
    """
    first = max(1, min_context_tokens)
    rows = []
    for doc in doc_ids:
        ends = corpus.char_ends[doc]
        positions = np.arange(first, len(ends), dtype=np.int64)
        positions = positions[ends[positions] > ends[positions - 1]]
        rows.append(np.stack([np.full(len(positions), doc, dtype=np.int64), positions], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int64)


def make_task(
    corpus: TokenizedCorpus, doc_id: int, position: int, data: "DataConfig", entropy: float = float("nan")
) -> NTPTask:
    """The task at `position`: up to `max_context_tokens` before it, up to `max_target_tokens` from it.

    A target that would end inside a character split into byte tokens is extended to the
    character's last byte token, so the target text always ends on a whole character.
    """
    ids, ends, text = corpus.token_ids[doc_id], corpus.char_ends[doc_id], corpus.texts[doc_id]
    ctx_start = max(0, position - data.max_context_tokens)
    target_end = min(len(ids), position + data.max_target_tokens)
    while target_end < len(ids) and ends[target_end] == ends[target_end - 1]:
        target_end += 1  # the next token ends where this one does: both are bytes of one character
    ctx_char = int(ends[ctx_start - 1]) if ctx_start > 0 else 0
    target_char = int(ends[position - 1]) if position > 0 else 0
    target_text = text[target_char : int(ends[target_end - 1])]
    # Byte length of the target prefix that ends after each token. Tokens that split one
    # character (byte fallback) share its end, so duplicates (and empty prefixes) are dropped.
    lengths = [len(text[target_char : int(end)].encode("utf-8")) for end in ends[position:target_end]]
    boundaries = tuple(sorted({n for n in lengths if n > 0}))
    return NTPTask(
        doc_id=int(doc_id),
        position=int(position),
        context_ids=tuple(int(i) for i in ids[ctx_start:position]),
        context_text=text[ctx_char:target_char],
        target_ids=tuple(int(i) for i in ids[position:target_end]),
        target_text=target_text,
        boundaries=boundaries,
        entropy=float(entropy),
    )


def select_tasks(
    cfg: "DictConfig",
    corpus: TokenizedCorpus,
    split: str,
    token_filter: Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray] | None = None,  # a TokenFilter
    entropies: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The (doc_id, position) rows of one split that the token filter keeps (all when no filter)."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    train_docs, val_docs = split_documents(len(corpus), cfg.data.val_fraction, cfg.data.seed)
    rows = candidate_positions(corpus, train_docs if split == "train" else val_docs, cfg.data.min_context_tokens)
    if token_filter is None or len(rows) == 0:
        return rows
    values = row_entropies(rows, entropies)
    keep = token_filter(rows[:, 1], values, np.random.default_rng(cfg.data.seed))
    return rows[np.asarray(keep, dtype=np.int64)]


def row_entropies(rows: np.ndarray, entropies: list[np.ndarray] | None) -> np.ndarray:
    """Entropy of each (doc_id, position) row, NaN where the corpus was not scored."""
    if entropies is None:
        return np.full(len(rows), np.nan, dtype=np.float32)
    return np.asarray([entropies[d][p] for d, p in rows], dtype=np.float32)


