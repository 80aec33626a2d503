"""Clipped surrogate, KL estimators and loss aggregation against hand-computed values."""

import math

import pytest
import torch

from rpt.grpo.loss import aggregate_loss, clipped_policy_loss, kl_penalty, loss_normaliser, masked_mean

# (advantage, ratio) per token, with clip_low=0.2, clip_high=0.28 -> ratio clipped to [0.8, 1.28]
CASES = [
    (1.0, 1.5),   # positive A, ratio above 1 + clip_high: clipped to -1.28
    (1.0, 0.5),   # positive A, ratio below 1 - clip_low: the unclipped -0.5 is larger, kept
    (-1.0, 1.5),  # negative A, ratio high: unclipped 1.5 kept (pessimistic bound)
    (-1.0, 0.5),  # negative A, ratio low: clipped 0.8
    (-2.0, 5.0),  # negative A, huge ratio: 10 (or 6 with dual_clip=3)
    (1.0, 1.25),  # inside [0.8, 1.28] (would be clipped by a symmetric 0.2)
]


def _tensors():
    adv = torch.tensor([a for a, _ in CASES])
    old = torch.full((len(CASES),), -1.0)
    new = old + torch.log(torch.tensor([r for _, r in CASES]))
    return new.requires_grad_(), old, adv


def test_clipped_surrogate_with_separate_clip_low_and_high():
    new, old, adv = _tensors()
    loss, clipped = clipped_policy_loss(new, old, adv, clip_low=0.2, clip_high=0.28)
    torch.testing.assert_close(loss, torch.tensor([-1.28, -0.5, 1.5, 0.8, 10.0, -1.25]))
    assert clipped.tolist() == [True, False, False, True, False, False]
    # gradient d loss / d logprob = -A * ratio where unclipped, 0 where the clip is active
    loss.sum().backward()
    torch.testing.assert_close(new.grad, torch.tensor([0.0, -0.5, 1.5, 0.0, 10.0, -1.25]))


def test_dual_clip_bounds_only_negative_advantages():
    new, old, adv = _tensors()
    loss, clipped = clipped_policy_loss(new, old, adv, clip_low=0.2, clip_high=0.28, dual_clip=3.0)
    torch.testing.assert_close(loss, torch.tensor([-1.28, -0.5, 1.5, 0.8, 6.0, -1.25]))
    assert clipped.tolist() == [True, False, False, True, True, False]


def test_dual_clip_must_exceed_one():
    new, old, adv = _tensors()
    with pytest.raises(ValueError, match="dual_clip"):
        clipped_policy_loss(new, old, adv, 0.2, 0.2, dual_clip=1.0)


def test_log_ratio_is_clamped_before_exp():
    loss, _ = clipped_policy_loss(torch.tensor([100.0]), torch.tensor([0.0]), torch.tensor([-1.0]), 0.2, 0.2)
    torch.testing.assert_close(loss, torch.tensor([math.exp(20.0)]))


def test_sequence_advantages_broadcast_over_tokens():
    new = torch.zeros(2, 3)
    loss, _ = clipped_policy_loss(new, new, torch.tensor([[2.0], [-1.0]]), 0.2, 0.2)
    torch.testing.assert_close(loss, torch.tensor([[-2.0] * 3, [1.0] * 3]))


@pytest.mark.parametrize(
    "estimator, d, expected",
    [
        ("k1", math.log(2), math.log(2)),
        ("k2", math.log(2), 0.5 * math.log(2) ** 2),
        ("k3", math.log(2), 0.5 - 1 + math.log(2)),   # exp(-d) - 1 + d
        ("k3", -math.log(2), 2 - 1 - math.log(2)),
        ("k1", -math.log(2), -math.log(2)),
    ],
)
def test_kl_estimators(estimator, d, expected):
    ref = torch.tensor([-1.5])
    value = kl_penalty(ref + d, ref, estimator)
    torch.testing.assert_close(value, torch.tensor([expected]))


def test_k3_is_zero_where_policy_and_reference_agree():
    x = torch.tensor([-0.1, -3.0])
    torch.testing.assert_close(kl_penalty(x, x, "k3"), torch.zeros(2))


def test_unknown_kl_estimator():
    with pytest.raises(ValueError, match="k4"):
        kl_penalty(torch.zeros(1), torch.zeros(1), "k4")


TOKEN_LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0], [5.0, 5.0, 5.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # last row: no tokens


@pytest.mark.parametrize(
    "mode, count, expected",
    [
        ("token_mean", 4, (1 + 2 + 3 + 4) / 4),
        ("seq_mean_token_mean", 2, (2 + 4) / 2),
        ("seq_mean_token_sum", 2, (6 + 4) / 2),
    ],
)
def test_aggregation_modes(mode, count, expected):
    normaliser = loss_normaliser(MASK, mode)
    assert normaliser.item() == count
    assert aggregate_loss(TOKEN_LOSS, MASK, mode, normaliser).item() == pytest.approx(expected)


def test_unknown_aggregation():
    with pytest.raises(ValueError, match="token_max"):
        loss_normaliser(MASK, "token_max")


@pytest.mark.parametrize("mode", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum"])
def test_gradient_is_the_same_in_one_or_four_micro_batches(mode):
    """The step's normaliser is counted over all micro-batches, so accumulation is exact."""
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([1, 7, 2, 8, 3, 3, 6, 1])  # unequal: a per-micro-batch mean would differ
    mask = (torch.arange(8)[None, :] < lengths[:, None]).float()
    old = -torch.rand(8, 8, generator=gen) * 2
    adv = torch.randn(8, 1, generator=gen)
    theta = (old + 0.3 * torch.randn(8, 8, generator=gen)).requires_grad_()

    def step_grad(sizes: list[int], global_count: bool) -> torch.Tensor:
        theta.grad = None
        total = loss_normaliser(mask, mode)
        for r in torch.arange(8).split(sizes):
            loss, _ = clipped_policy_loss(theta[r], old[r], adv[r], 0.2, 0.28, dual_clip=3.0)
            # the buggy alternative: each micro-batch's own mean, averaged over the micro-batches
            norm = total if global_count else loss_normaliser(mask[r], mode) * len(sizes)
            aggregate_loss(loss, mask[r], mode, norm).backward()
        return theta.grad.clone()

    full = step_grad([8], global_count=True)
    torch.testing.assert_close(step_grad([2, 2, 2, 2], global_count=True), full, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(step_grad([3, 3, 2], global_count=True), full, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(step_grad([3, 3, 2], global_count=False), full, rtol=1e-3, atol=1e-5)


def test_masked_mean_ignores_padding_and_empty_masks():
    assert masked_mean(TOKEN_LOSS, MASK).item() == pytest.approx(2.5)
    assert masked_mean(TOKEN_LOSS, torch.zeros_like(MASK)).item() == 0.0
