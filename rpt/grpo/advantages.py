"""Group-relative advantages: each sample is judged against the other samples of its prompt."""

from __future__ import annotations

import torch


def group_advantages(
    rewards: torch.Tensor, group_size: int, norm_by_std: bool = True, eps: float = 1e-6
) -> torch.Tensor:
    """GRPO advantages: reward minus its group's mean, divided by the group's std + eps.

    `rewards` holds `group_size` consecutive samples per prompt (prompt-major, as rollouts
    return them). The std is the unbiased one, as in GRPO and verl; with `norm_by_std=False`
    only the mean is removed (Dr. GRPO), which keeps the advantage scale of easy and hard
    prompts equal. A group whose rewards are all equal gets advantage 0 either way.
    """
    if group_size < 2:
        raise ValueError(f"GRPO needs at least 2 samples per prompt, got group_size={group_size}")
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"expected a 1-D tensor of groups of {group_size} rewards, got shape {tuple(rewards.shape)}")
    grouped = rewards.float().view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if norm_by_std:
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
    return centred.flatten()


def informative_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Bool per group: True when its rewards differ (an all-equal group has zero advantage, no signal)."""
    grouped = rewards.view(-1, group_size)
    return grouped.amax(dim=1) > grouped.amin(dim=1)
