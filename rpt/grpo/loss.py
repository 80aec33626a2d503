"""The GRPO policy loss as per-token pieces, and their aggregation into one scalar per optimizer step.

Everything here works on `[batch, response_len]` tensors with a 0/1 `mask` over real response
tokens. Per-token terms are summed over a micro-batch and divided by a normaliser counted over
the *whole* optimizer-step batch (every micro-batch, every rank), so that gradient accumulation
over micro-batches gives exactly the gradient of the full batch. Dividing by a per-micro-batch
count instead weights tokens of short micro-batches more (the bug TRL and verl both shipped).
"""

from __future__ import annotations

import torch

from rpt.config import KL_ESTIMATORS, LOSS_AGGREGATIONS  # the options, declared with the config fields
#: log-ratios are clamped to +-MAX_LOG_RATIO before exp, so one wild token cannot overflow
MAX_LOG_RATIO = 20.0


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate per token: max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)).

    r = exp(logprobs - old_logprobs), the log-ratio clamped first. A separate, larger
    `clip_high` lets unlikely tokens with positive advantage grow (DAPO's clip-higher).
    `dual_clip` (> 1) additionally caps the loss of negative-advantage tokens at -A * dual_clip,
    so a token whose ratio exploded cannot dominate the step. `advantages` broadcasts against
    `logprobs` (`[batch, 1]` for one advantage per sequence).

    Returns the per-token loss and a bool tensor marking tokens where a clip changed it.
    """
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
    log_ratio = (logprobs - old_logprobs).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    was_clipped = clipped > unclipped
    if dual_clip is not None:
        bound = -advantages * dual_clip
        dual_applies = (advantages < 0) & (loss > bound)
        loss = torch.where(dual_applies, bound, loss)
        was_clipped = was_clipped | dual_applies
    return loss, was_clipped


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from tokens sampled by the policy.

    With d = logprobs - ref_logprobs (Schulman, "Approximating KL divergence"):
    k1 = d (unbiased, high variance, can be negative); k2 = d^2 / 2 (low variance, biased);
    k3 = exp(-d) - 1 + d (unbiased and always >= 0: the usual choice).
    """
    log_ratio = (logprobs - ref_logprobs).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio.square()
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}; choose one of {', '.join(KL_ESTIMATORS)}")


def loss_normaliser(mask: torch.Tensor, mode: str) -> torch.Tensor:
    """What `mode` divides by, counted in this batch: response tokens, or sequences that have any.

    Sum it over every micro-batch of an optimizer step (and all-reduce it over ranks) and pass
    the total to `aggregate_loss` for each micro-batch.
    """
    _check_mode(mode)
    if mode == "token_mean":
        return mask.sum().float()
    return (mask.sum(dim=-1) > 0).sum().float()


def aggregate_loss(token_loss: torch.Tensor, mask: torch.Tensor, mode: str, normaliser: torch.Tensor | float) -> torch.Tensor:
    """This micro-batch's share of the step loss: a sum over its units divided by the step's count.

    - `token_mean`: every response token of the step weighs the same (DAPO; the default);
    - `seq_mean_token_mean`: each sequence's mean token loss, averaged over sequences (GRPO paper);
    - `seq_mean_token_sum`: each sequence's summed token loss, averaged over sequences (Dr. GRPO-like).
    Summing this over the micro-batches of a step gives the loss of the whole step's batch.
    """
    _check_mode(mode)
    masked = token_loss * mask
    if mode == "seq_mean_token_mean":
        total = (masked.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)).sum()
    else:
        total = masked.sum()
    return total / normaliser


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the tokens in `mask` (0 when the mask is empty), for metrics."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def _check_mode(mode: str) -> None:
    if mode not in LOSS_AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {mode!r}; choose one of {', '.join(LOSS_AGGREGATIONS)}")
