"""Compute is counted alike for RPT and NTP: 2·N per generated or scored token, 6·N per trained token."""

import pytest

from rpt.ablate.flops import ntp_flops, ntp_token_budget, rpt_run_flops, rpt_step_flops


def test_an_rpt_step_costs_rollout_scoring_and_update():
    # N = 1000; 200 prompt+response tokens trained on once: rollout 200 x 2N, old log-probs 200 x 2N,
    # update 200 x 6N = 400k + 400k + 1.2M
    assert rpt_step_flops(1000, 200, ppo_epochs=1) == 2_000_000
    # two epochs log 400 trained tokens over the same 200-token batch: 400k + 400k + 2.4M
    assert rpt_step_flops(1000, 400, ppo_epochs=2) == 3_200_000
    # half the drawn groups dropped: the rollout covered 400 tokens; a reference scores 200 more
    assert rpt_step_flops(1000, 200, ppo_epochs=1, kept_ratio=0.5, reference=True) == 2 * 1000 * (400 + 400) + 1_200_000


def test_the_ntp_budget_spends_the_same_flops():
    rpt = rpt_step_flops(1000, 200, ppo_epochs=1)
    tokens = ntp_token_budget(rpt, 1000)
    assert tokens == pytest.approx(2_000_000 / 6000)
    assert ntp_flops(1000, tokens) == pytest.approx(rpt)


def test_a_run_sums_its_logged_steps(tmp_path):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("step,train/tokens,train/kept_ratio,val/ntp_acc\n"
                       "0,,,0.5\n1,200,1.0,\n2,100,0.5,\n2,,,0.6\n")
    expected = 1000 * (2 * (200 + 200) + 6 * 200) + 1000 * (2 * (200 + 100) + 6 * 100)
    assert rpt_run_flops(1000, metrics, ppo_epochs=1, reference=False) == expected
