"""The score artifact: one memory-mapped numpy column per measure over every corpus token, resumable.

Layout of the folder:
  meta.json       what was scored and how (corpus key, proxy fingerprint, settings); fixed at creation
  offsets.npy     int64 [n_documents + 1]: document d's tokens are rows offsets[d]:offsets[d + 1]
  entropy.npy     float32, top-k entropy of the proxy's prediction of that token (NaN: not scored)
  rank.npy        int32, rank of the token under the proxy (0 = its argmax; -1: not scored)
  prob.npy        float32, the proxy's probability of the token (NaN: not scored)
  progress.json   how many batches of the (deterministic) plan are stored, rewritten atomically
Columns are flushed before progress is written, so a killed run loses at most the batch in flight,
and redoing it writes the same values.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rpt.errors import RptError

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
    def open_or_create(cls, path: Path, meta: dict[str, Any], lengths: list[int]) -> "ScoreArtifact":
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


def load_scores(path: str | Path, corpus: "TokenizedCorpus") -> ScoreArtifact:
    """The artifact at `path`, checked to belong to `corpus` (same documents, same tokenizer)."""
    artifact = ScoreArtifact.open(path)
    if artifact.meta["corpus_key"] != corpus.key:
        raise RptError(
            f"scores at {artifact.path} belong to another corpus or tokenizer "
            f"(key {artifact.meta['corpus_key']}, this corpus {corpus.key}); run `rpt score` on this corpus"
        )
    if not artifact.complete:
        log.warning("scores at %s are partial (%d of %d batches); unscored positions are NaN",
                    artifact.path, artifact.batches_done, artifact.meta["n_batches"])
    return artifact


def load_entropies(path: str | Path, corpus: "TokenizedCorpus") -> list[np.ndarray]:
    """Top-k entropy of every token, one array per document of `corpus` (NaN where not scored)."""
    return load_scores(path, corpus).per_document("entropy")


def _write_json_atomic(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(tmp, path)
