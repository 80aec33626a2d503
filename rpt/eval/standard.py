"""Standard next-token accuracy: does the model's greedy (argmax) next token equal the corpus token?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from rpt.proxy.lm import last_logits

if TYPE_CHECKING:
    from rpt.data.tasks import NTPTask


def greedy_next_tokens(
    model: torch.nn.Module, contexts: Sequence[Sequence[int]], batch_size: int = 32, progress: bool = True
) -> np.ndarray:
    """The model's argmax next token after each context, one forward pass per batch of contexts.

    Contexts are batched longest first (less padding), right-aligned, with position ids from 0,
    so each is computed as if it were run on its own. Under `no_grad`, not `inference_mode`: an
    FSDP2 policy validated in training keeps the buffers it unshards into, and inference tensors
    there would break its next training step.
    """
    order = np.argsort([-len(c) for c in contexts], kind="stable")
    predictions = np.empty(len(contexts), dtype=np.int64)
    with torch.no_grad():
        for start in tqdm(range(0, len(order), batch_size), desc="eval", unit="batch", disable=not progress):
            batch = order[start : start + batch_size]
            logits = last_logits(model, [np.asarray(contexts[i], dtype=np.int64) for i in batch], keep=1)
            predictions[batch] = logits[:, -1].argmax(dim=-1).cpu().numpy()
    return predictions


def standard_accuracy(
    model: torch.nn.Module, tasks: Sequence["NTPTask"], batch_size: int = 32, progress: bool = True
) -> np.ndarray:
    """1.0 where the greedy next token after the task's context is its ground-truth token, else 0.0."""
    predictions = greedy_next_tokens(model, [t.context_ids for t in tasks], batch_size, progress)
    return (predictions == np.asarray([t.target_ids[0] for t in tasks])).astype(np.float64)
