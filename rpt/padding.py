"""Token rows of different lengths as one padded `[batch, longest]` tensor with its 0/1 attention mask.

Left padding ends every row in the same column (prompts: generation and the last position's logits
line up); right padding starts every row in the same column (responses).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as one left-padded `[batch, longest]` tensor and its 0/1 attention mask."""
    return _pad(rows, pad_id, device, left=True, width=max(len(r) for r in rows))


def right_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as one right-padded `[batch, longest]` tensor (at least one column) and its mask."""
    return _pad(rows, pad_id, device, left=False, width=max(1, max(len(r) for r in rows)))


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions counting real tokens only, from 0 in each row (as for a sequence run on its own)."""
    return (mask.long().cumsum(dim=1) - 1).clamp(min=0)


def _pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device, left: bool, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        columns = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, columns] = torch.as_tensor(np.asarray(row, dtype=np.int64))
        mask[i, columns] = 1
    return ids.to(device), mask.to(device)


def pad_columns(values: torch.Tensor, width: int) -> torch.Tensor:
    """`[batch, length]` values padded on the right with zeros to `width` columns."""
    return torch.nn.functional.pad(values, (0, width - values.shape[1]))
