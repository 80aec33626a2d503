"""Group-relative advantages against hand-computed values."""

import math

import pytest
import torch

from rpt.grpo.advantages import group_advantages, informative_groups


def test_advantages_are_centred_and_scaled_by_the_unbiased_group_std():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.5])
    adv = group_advantages(rewards, group_size=4, eps=0.0)
    # group 1: mean 0.5, unbiased std sqrt(4 * 0.25 / 3) = 1/sqrt(3) -> +-0.5 * sqrt(3)
    # group 2: mean 0.5, deviations -0.5, 0, 0.5, 0; std sqrt(0.5 / 3) = 1/sqrt(6)
    s3, s6 = math.sqrt(3), math.sqrt(6)
    expected = torch.tensor([0.5 * s3, -0.5 * s3, -0.5 * s3, 0.5 * s3, -0.5 * s6, 0.0, 0.5 * s6, 0.0])
    torch.testing.assert_close(adv, expected)


def test_without_std_normalisation_only_the_mean_is_removed():
    rewards = torch.tensor([0.0, 0.5, 1.0, 1.0, 1.0, 0.0])
    adv = group_advantages(rewards, group_size=3, norm_by_std=False)
    torch.testing.assert_close(adv, torch.tensor([-0.5, 0.0, 0.5, 1 / 3, 1 / 3, -2 / 3]))


def test_equal_rewards_give_zero_advantage_not_nan():
    adv = group_advantages(torch.tensor([1.0, 1.0, 0.0, 0.0]), group_size=2)
    torch.testing.assert_close(adv, torch.zeros(4))


def test_eps_keeps_tiny_differences_finite():
    adv = group_advantages(torch.tensor([0.0, 1e-9]), group_size=2, eps=1e-6)
    assert torch.isfinite(adv).all()
    assert adv.abs().max() < 1e-3


@pytest.mark.parametrize("group_size, n", [(1, 4), (3, 4)])
def test_bad_group_sizes_are_rejected(group_size, n):
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(n), group_size=group_size)


def test_informative_groups_are_those_whose_rewards_differ():
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.3, 0.3])
    assert informative_groups(rewards, group_size=2).tolist() == [False, True, False, False]
