"""Plain next-token-prediction training of a causal LM on whole documents (right-padded, seeded random
batches): the demo recipe's pre-training for a fixed step budget and `rpt ablate`'s NTP baseline for
a fixed token budget both run this loop."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from rpt.padding import right_pad


def next_token_steps(
    model: torch.nn.Module,
    documents: Sequence[np.ndarray],
    pad_id: int,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    seed: int,
    grad_clip: float = 1.0,
) -> Iterator[tuple[float, int]]:
    """Endless next-token steps on seeded random batches of documents; yields (loss, tokens trained on).

    The caller stops it: after a number of steps, or once a token budget is spent.
    """
    rng = np.random.default_rng(seed)
    device = next(model.parameters()).device
    model.train()
    while True:
        picks = rng.choice(len(documents), size=min(batch_size, len(documents)), replace=False)
        input_ids, attention_mask = right_pad([documents[i] for i in picks], pad_id, device)
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        schedule.step()
        yield loss.item(), int(attention_mask.sum())
