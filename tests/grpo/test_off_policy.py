"""Truncated importance-sampling weights and rollout/trainer gap metrics against hand-computed values."""

import math

import pytest
import torch

from rpt.grpo.off_policy import logprob_gap_metrics, truncated_is_weights


def test_weights_are_the_probability_ratio_truncated_at_the_cap():
    trainer = torch.tensor([math.log(0.5), math.log(0.2), math.log(0.9)])
    rollout = torch.tensor([math.log(0.5), math.log(0.4), math.log(0.1)])
    weights = truncated_is_weights(trainer, rollout, cap=2.0)
    # ratios p_trainer / p_rollout: 1.0, 0.5, 9.0 -> the last one is truncated to the cap
    torch.testing.assert_close(weights, torch.tensor([1.0, 0.5, 2.0]))


def test_weights_carry_no_gradient():
    trainer = torch.tensor([-1.0, -2.0], requires_grad=True)
    weights = truncated_is_weights(trainer, torch.tensor([-1.5, -1.0]), cap=5.0)
    assert not weights.requires_grad


def test_a_non_positive_cap_is_rejected():
    with pytest.raises(ValueError, match="cap"):
        truncated_is_weights(torch.zeros(2), torch.zeros(2), cap=0.0)


def test_gap_metrics_cover_only_masked_tokens():
    trainer = torch.tensor([[-1.0, -2.0, -50.0], [-0.5, -3.0, 0.0]])
    rollout = torch.tensor([[-1.5, -2.0, 0.0], [-0.5, -1.0, 0.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    metrics = logprob_gap_metrics(trainer, rollout, mask, cap=1.2)
    log_ratios = [0.5, 0.0, 0.0, -2.0]  # trainer - rollout on the 4 masked tokens
    assert metrics["gap_mean"] == pytest.approx(sum(abs(x) for x in log_ratios) / 4)
    assert metrics["gap_max"] == pytest.approx(2.0)
    expected_kl = sum(math.exp(x) - 1 - x for x in log_ratios) / 4
    assert metrics["kl"] == pytest.approx(expected_kl)
    assert metrics["tis_clip_frac"] == pytest.approx(1 / 4)  # only exp(0.5) = 1.65 exceeds 1.2


def test_identical_log_probs_give_zero_gap():
    logprobs = torch.tensor([[-0.3, -1.7]])
    metrics = logprob_gap_metrics(logprobs, logprobs.clone(), torch.ones(1, 2))
    assert metrics == {"gap_mean": 0.0, "gap_max": 0.0, "kl": 0.0}


def test_an_empty_mask_gives_zero_gap():
    metrics = logprob_gap_metrics(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1, 2))
    assert metrics == {"gap_mean": 0.0, "gap_max": 0.0, "kl": 0.0}
