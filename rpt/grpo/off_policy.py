"""Rollout/trainer mismatch: measure it, and optionally correct it with truncated importance sampling.

A rollout engine (vLLM) samples with its own kernels, so the log-probs it reports differ slightly
from the trainer's recomputed ones even at identical weights; with stale weights they differ more.
The GRPO ratio always uses the trainer's log-probs. Truncated importance sampling (TIS, Yao et al.
2025, "Your efficient RL framework secretly brings you off-policy RL training") additionally
multiplies each token's policy-gradient term by min(p_trainer / p_rollout, cap), so the gradient
estimates the trainer policy's even though the tokens came from the engine.
"""

from __future__ import annotations

import torch


def truncated_is_weights(trainer_logprobs: torch.Tensor, rollout_logprobs: torch.Tensor, cap: float) -> torch.Tensor:
    """Per-token weights min(exp(trainer - rollout), cap), detached: a constant factor on the loss.

    `trainer_logprobs` are the trainer's log-probs of the sampled tokens under the weights that
    generated them (GRPO's "old" log-probs); `rollout_logprobs` are the engine's for the same tokens.
    """
    if cap <= 0:
        raise ValueError(f"the truncated importance-sampling cap must be positive, got {cap}")
    log_ratio = (trainer_logprobs - rollout_logprobs).detach()
    return torch.exp(log_ratio).clamp(max=cap)


def logprob_gap_metrics(
    trainer_logprobs: torch.Tensor, rollout_logprobs: torch.Tensor, mask: torch.Tensor, cap: float | None = None
) -> dict[str, float]:
    """How far the engine's log-probs are from the trainer's, over the response tokens in `mask`.

    `gap_mean`/`gap_max`: mean and max |trainer - rollout|; `kl`: the k3 estimate of
    KL(rollout || trainer) from the sampled tokens, (r - 1) - log r with r = p_trainer / p_rollout,
    which is >= 0 per token and 0 only where the two agree. With a TIS `cap`, `tis_clip_frac` is the
    share of tokens whose weight was truncated.
    """
    log_ratio = (trainer_logprobs - rollout_logprobs).detach().float()[mask.bool()]
    if log_ratio.numel() == 0:
        log_ratio = torch.zeros(1)
    k3 = torch.expm1(log_ratio) - log_ratio
    metrics = {
        "gap_mean": log_ratio.abs().mean().item(),
        "gap_max": log_ratio.abs().max().item(),
        "kl": k3.mean().item(),
    }
    if cap is not None:
        metrics["tis_clip_frac"] = (log_ratio.exp() > cap).float().mean().item()
    return metrics
