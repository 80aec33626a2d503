"""The demo's pre-training: plain next-token prediction of the tiny model on whole documents, for a
fixed step budget (the loop itself is the core's `rpt.train.ntp`, which `rpt ablate`'s baseline shares)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from rpt.train.ntp import next_token_steps


def pretrain(
    model: torch.nn.Module,
    documents: Sequence[np.ndarray],
    pad_id: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> list[float]:
    """Train on random batches of whole documents (right-padded); returns the loss of each step.

    Whole documents, not packed chunks, so the model sees text exactly as the RPT prompts and
    the evaluation show it: starting at the document's first token. The learning rate warms up
    over the first 5% of steps and then decays linearly to zero.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    bar = tqdm(range(steps), desc="pretrain", unit="step")
    losses = []
    for _, (loss, _tokens) in zip(bar, next_token_steps(model, documents, pad_id, batch_size, optimizer, schedule, seed)):
        losses.append(loss)
        bar.set_postfix(loss=f"{loss:.3f}")
    model.eval()
    return losses
