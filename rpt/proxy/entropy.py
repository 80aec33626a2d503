"""Per-position difficulty measures from next-token logits: top-k entropy, target rank and probability."""

from __future__ import annotations

import torch

#: Rows of logits turned into float32 at a time, so a [rows, 150k] float copy stays near 512 MiB.
FLOAT_ELEMENTS_PER_CHUNK = 2**27


def topk_entropy(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Entropy (nats) of the softmax over the `k` largest logits, renormalised among themselves.

    This is RPT's difficulty signal: it ignores the long tail of the vocabulary, so it measures
    how undecided the model is between its own top candidates. Shape [..., V] -> [...].
    """
    top = logits.float().topk(min(k, logits.shape[-1]), dim=-1).values
    log_p = torch.log_softmax(top, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def target_rank_and_prob(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ground-truth token's rank (0 = the argmax; ties count in its favour) and full-softmax probability."""
    logits = logits.float()
    target_logit = logits.gather(-1, targets.unsqueeze(-1))
    rank = (logits > target_logit).sum(dim=-1, dtype=torch.int32)
    prob = (target_logit.squeeze(-1) - torch.logsumexp(logits, dim=-1)).exp()
    return rank, prob


def score_logits(logits: torch.Tensor, targets: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entropy, rank and probability for rows of logits [N, V] with their targets [N], in bounded memory."""
    rows = max(1, FLOAT_ELEMENTS_PER_CHUNK // logits.shape[-1])
    parts = [
        (topk_entropy(chunk, k), *target_rank_and_prob(chunk, target))
        for chunk, target in zip(logits.split(rows), targets.split(rows))
    ]
    entropy, rank, prob = (torch.cat(column) for column in zip(*parts))
    return entropy, rank, prob
