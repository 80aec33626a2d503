"""The score artifact: one memory-mapped numpy column per measure over every corpus token, resumable.

Layout of the folder:
  meta.json       what was scored and how (corpus key, proxy fingerprint, settings); fixed at creation
  offsets.npy     int64 [n_documents + 1]: document d's tokens are rows offsets[d]:offsets[d + 1]
  entropy.npy     float32, top-k entropy of the proxy's prediction of that token (NaN: not scored)
  rank.npy        int32, rank of the token under the proxy (0 = its argmax; -1: not scored)
  prob.npy        float32, the proxy's probability of the token (NaN: not scored)
  progress.json   how many batches of the (deterministic) plan are stored, rewritten atomically
  char_ends.npy   int64, where each scored token ends in its document's text: only when the proxy has its
                  own tokenizer (score.align_tokenizers), to map its positions onto the corpus tokenizer's
Columns are flushed before progress is written, so a killed run loses at most the batch in flight,
and redoing it writes the same values.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rpt.errors import RptError
from rpt.files import write_text_atomic

if TYPE_CHECKING:
    from rpt.data.corpus import TokenizedCorpus

log = logging.getLogger(__name__)

ARTIFACT_VERSION = 1
#: column -> (dtype, value where not scored)
COLUMNS: dict[str, tuple[str, float]] = {"entropy": ("float32", np.nan), "rank": ("int32", -1), "prob": ("float32", np.nan)}


@dataclass
class ScoreArtifact:
    path: Path
    meta: dict[str, Any]
    offsets: np.ndarray
    columns: dict[str, np.ndarray]  # memory-mapped, one value per corpus token

    @classmethod
    def open_or_create(cls, path: Path, meta: dict[str, Any], lengths: list[int],
                       char_ends: list[np.ndarray] | None = None) -> "ScoreArtifact":
        """Continue the artifact at `path` when it was made with the same `meta`, else start it."""
        meta = {"version": ARTIFACT_VERSION, **meta}
        if (path / "meta.json").exists():
            stored = json.loads((path / "meta.json").read_text())
            if stored != meta:
                changed = sorted(k for k in meta.keys() | stored.keys() if meta.get(k) != stored.get(k))
                raise RptError(
                    f"{path} holds scores made with other settings ({', '.join(changed)}); "
                    "delete it or write to another folder (data.scores=...)"
                )
            return cls._open(path, "r+")
        path.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        np.save(path / "offsets.npy", offsets)
        if char_ends is not None:
            np.save(path / "char_ends.npy", np.concatenate(char_ends) if char_ends else np.zeros(0, np.int64))
        for name, (dtype, empty) in COLUMNS.items():
            column = np.lib.format.open_memmap(path / f"{name}.npy", mode="w+", dtype=dtype, shape=(int(offsets[-1]),))
            column[:] = empty
            column.flush()
            del column
        _write_json_atomic(path / "progress.json", {"batches_done": 0})
        _write_json_atomic(path / "meta.json", meta)  # last: its presence marks a complete layout
        return cls._open(path, "r+")

    @classmethod
    def open(cls, path: str | Path) -> "ScoreArtifact":
        """Read-only view of a finished or partial artifact."""
        path = Path(path).expanduser()
        if not (path / "meta.json").exists():
            raise RptError(f"no proxy scores at {path}: run `rpt score` first (it writes data.scores)")
        return cls._open(path, "r")

    @classmethod
    def _open(cls, path: Path, mode: str) -> "ScoreArtifact":
        meta = json.loads((path / "meta.json").read_text())
        columns = {name: np.load(path / f"{name}.npy", mmap_mode=mode) for name in COLUMNS}
        return cls(path, meta, np.load(path / "offsets.npy"), columns)

    @property
    def batches_done(self) -> int:
        return json.loads((self.path / "progress.json").read_text())["batches_done"]

    @property
    def complete(self) -> bool:
        return self.batches_done >= self.meta["n_batches"]

    def commit(self, batches_done: int) -> None:
        """Make everything written so far durable, then record how far the plan got."""
        for column in self.columns.values():
            column.flush()
        _write_json_atomic(self.path / "progress.json", {"batches_done": batches_done})

    def per_document(self, column: str) -> list[np.ndarray]:
        values = self.columns[column]
        return [values[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def aligned_to(self, corpus: "TokenizedCorpus") -> "ScoreArtifact":
        """The scores mapped onto `corpus`'s tokens: each token gets the values of the scored token that
        starts at the same character (NaN / -1 where no scored token starts there)."""
        ends = np.load(self.path / "char_ends.npy")
        bounds = list(zip(self.offsets[:-1], self.offsets[1:]))
        columns = {}
        for name, (_, empty) in COLUMNS.items():
            values = self.columns[name]
            columns[name] = np.concatenate([
                align_by_chars(ends[a:b], values[a:b], corpus_ends, empty)
                for (a, b), corpus_ends in zip(bounds, corpus.char_ends)
            ] or [np.zeros(0, values.dtype)])
        offsets = np.concatenate([[0], np.cumsum([len(ids) for ids in corpus.token_ids], dtype=np.int64)])
        return ScoreArtifact(self.path, {**self.meta, "aligned_to": corpus.key}, offsets, columns)


def align_by_chars(source_ends: np.ndarray, values: np.ndarray, target_ends: np.ndarray, empty: float) -> np.ndarray:
    """For each target token, the value of the source token that starts at the same character.

    Tokens start where the previous one ends (token 0 at 0). Where no source token starts at a
    target token's start (their boundaries differ there), the target gets `empty`.
    """
    source_starts = np.concatenate([[0], source_ends[:-1]]).astype(np.int64)
    target_starts = np.concatenate([[0], target_ends[:-1]]).astype(np.int64)
    found = np.clip(np.searchsorted(source_starts, target_starts), 0, max(len(source_starts) - 1, 0))
    out = np.full(len(target_ends), empty, dtype=values.dtype)
    if len(source_starts):
        match = source_starts[found] == target_starts
        out[match] = values[found[match]]
    return out


def texts_fingerprint(texts: list[str]) -> str:
    """Identifies a corpus's documents alone (no tokenizer): scores aligned by characters need only these."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()[:16]


def load_scores(path: str | Path, corpus: "TokenizedCorpus") -> ScoreArtifact:
    """The artifact at `path`, checked to belong to `corpus` (same documents, same tokenizer)."""
    artifact = ScoreArtifact.open(path)
    if not artifact.complete:
        log.warning("scores at %s are partial (%d of %d batches); unscored positions are NaN",
                    artifact.path, artifact.batches_done, artifact.meta["n_batches"])
    if artifact.meta["corpus_key"] == corpus.key:
        return artifact
    same_texts = artifact.meta["texts_key"] == texts_fingerprint(corpus.texts)
    if same_texts and artifact.meta["char_aligned"]:
        return artifact.aligned_to(corpus)
    raise RptError(
        f"scores at {artifact.path} belong to another "
        + ("tokenizer (rescore with score.align_tokenizers=true to map them by characters)" if same_texts else "corpus")
        + f" (key {artifact.meta['corpus_key']}, this corpus {corpus.key}); run `rpt score` on this corpus"
    )


def load_entropies(path: str | Path, corpus: "TokenizedCorpus") -> list[np.ndarray]:
    """Top-k entropy of every token, one array per document of `corpus` (NaN where not scored)."""
    return load_scores(path, corpus).per_document("entropy")


def _write_json_atomic(path: Path, value: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(value, indent=1, sort_keys=True))
