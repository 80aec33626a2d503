"""Training compute, counted the same way for RPT and for the NTP baseline.

Per token a forward pass costs ≈ 2·N FLOPs and a forward + backward pass ≈ 6·N (N = parameters).
An RPT step runs, over the prompt + response tokens T of the samples it trains on:
- the rollout: every drawn sample's prompt and response, forward only (2·N each), including groups
  that dynamic sampling drew and then dropped (T / kept_ratio);
- the old log-probs before the update (and the reference's, with a KL term): forward only, T each;
- the update: `ppo_epochs` forward + backward passes, logged as `train/tokens` (6·N each).
A reward that runs a model of its own (`proxy_prob`) adds that model's forward passes, not counted here.
NTP trains on document tokens: 6·N each.
"""

from __future__ import annotations

import csv
from pathlib import Path

FORWARD = 2.0  # FLOPs per parameter and token, forward only (generated or scored)
FORWARD_BACKWARD = 6.0  # FLOPs per parameter and token, trained on


def rpt_step_flops(n_params: int, train_tokens: float, ppo_epochs: int, kept_ratio: float = 1.0,
                   reference: bool = False) -> float:
    """FLOPs of one RPT step that logged `train_tokens` (prompt + response tokens x ppo_epochs)."""
    batch = train_tokens / ppo_epochs  # the kept samples' prompt + response tokens, once
    rollout = batch / kept_ratio if kept_ratio > 0 else batch
    scored = batch * (2 if reference else 1)
    return n_params * (FORWARD * (rollout + scored) + FORWARD_BACKWARD * train_tokens)


def rpt_run_flops(n_params: int, metrics_csv: Path, ppo_epochs: int, reference: bool) -> float:
    """Total training FLOPs of an RPT run, from its metrics.csv (`train/tokens`, `train/kept_ratio`)."""
    total = 0.0
    with Path(metrics_csv).open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("train/tokens"):
                kept = float(row["train/kept_ratio"]) if row.get("train/kept_ratio") else 1.0
                total += rpt_step_flops(n_params, float(row["train/tokens"]), ppo_epochs, kept, reference)
    return total


def ntp_flops(n_params: int, tokens: float) -> float:
    """FLOPs of next-token training on `tokens` tokens."""
    return FORWARD_BACKWARD * n_params * tokens


def ntp_token_budget(flops: float, n_params: int) -> float:
    """Tokens of next-token training that cost `flops`."""
    return flops / (FORWARD_BACKWARD * n_params)
