"""Plain next-token-prediction training of a causal LM on whole documents: the demo's pre-training
for a fixed step budget, and `rpt ablate`'s NTP baseline for a fixed token budget."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm


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
        input_ids, attention_mask = (t.to(device) for t in pad_batch([documents[i] for i in picks], pad_id))
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        schedule.step()
        yield loss.item(), int(attention_mask.sum())


def pad_batch(documents: Sequence[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id arrays into (input_ids, attention_mask) tensors."""
    length = max(len(d) for d in documents)
    input_ids = torch.full((len(documents), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(documents), length), dtype=torch.long)
    for row, doc in enumerate(documents):
        input_ids[row, : len(doc)] = torch.as_tensor(doc, dtype=torch.long)
        attention_mask[row, : len(doc)] = 1
    return input_ids, attention_mask
