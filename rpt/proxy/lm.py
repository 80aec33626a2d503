"""Load a causal LM for scoring or evaluation, identify it, and run right-aligned batched forwards."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from rpt.config import DTYPE_NAMES
from rpt.data.corpus import resolve_model_path
from rpt.errors import RptError

DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}
#: Weight files larger than this are fingerprinted by size and three samples, not read whole.
FULL_HASH_BYTES = 64 * 2**20
SAMPLE_BYTES = 4 * 2**20


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is bfloat16 on a GPU and float32 on CPU (where bfloat16 matmuls are slow and coarse)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise RptError(f"unknown dtype {name!r}; choose auto, {', '.join(DTYPES)}")
    return DTYPES[name]


def load_causal_lm(name_or_path: str, dtype: str = "auto", device: torch.device | None = None) -> torch.nn.Module:
    """A Hugging Face causal LM in eval mode on `device` (default: the GPU when there is one)."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    source = resolve_model_path(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=resolve_dtype(dtype, device))
    except (OSError, ValueError, SafetensorError) as err:  # SafetensorError: a truncated or damaged weights file
        raise RptError(f"cannot load model {name_or_path!r}: {str(err).splitlines()[0]}") from None
    return model.to(device).eval()


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


def left_padded(sequences: Sequence[np.ndarray], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input ids, attention mask and position ids for sequences right-aligned in one batch.

    Right alignment puts every sequence's last logits in the same columns, so the model
    computes logits for the last k columns only (`logits_to_keep=k`). Position ids restart at 0
    in each sequence, as they do for a prompt on its own.
    """
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids, mask, positions


def last_logits(model: torch.nn.Module, sequences: Sequence[np.ndarray], keep: int) -> torch.Tensor:
    """Logits [B, keep, V] of the last `keep` positions of each sequence, from one forward pass."""
    device = next(model.parameters()).device
    ids, mask, positions = (t.to(device) for t in left_padded(sequences))
    return model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep, use_cache=False).logits
