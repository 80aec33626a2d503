"""Identify a model by its files, and run right-aligned batched forwards (loading is `rpt.models`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rpt.models import resolve_model_path
from rpt.padding import left_pad, position_ids

#: Weight files larger than this are fingerprinted by size and three samples, not read whole.
FULL_HASH_BYTES = 64 * 2**20
SAMPLE_BYTES = 4 * 2**20


def model_fingerprint(name_or_path: str) -> str:
    """Identifies a model folder by its files' content, so a retrained checkpoint gets a new key.

    Large weight files are identified by size plus samples from start, middle and end: any
    change to trained weights touches all of them, and hashing tens of GB would take minutes.
    A hub name is identified by the name alone.
    """
    path = Path(resolve_model_path(name_or_path))
    if not path.is_dir():
        return hashlib.sha256(f"hub:{name_or_path}".encode()).hexdigest()[:16]
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path)}:{size}".encode())
        with file.open("rb") as handle:
            if size <= FULL_HASH_BYTES:
                digest.update(handle.read())
                continue
            for offset in (0, size // 2, size - SAMPLE_BYTES):
                handle.seek(offset)
                digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def last_logits(model: torch.nn.Module, sequences: Sequence[np.ndarray], keep: int) -> torch.Tensor:
    """Logits [B, keep, V] of the last `keep` positions of each sequence, from one forward pass.

    Right alignment (left padding) puts every sequence's last logits in the same columns, so the model
    computes logits for the last k columns only (`logits_to_keep=k`). Position ids restart at 0 in
    each sequence, as they do for a prompt on its own.
    """
    ids, mask = left_pad(sequences, 0, next(model.parameters()).device)
    return model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), logits_to_keep=keep, use_cache=False).logits
