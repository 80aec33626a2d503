"""The trainer logs how far the rollout engine's log-probs are from the policy's, and can reweight by TIS."""

import csv
from pathlib import Path

import pytest
from rpt.config import load_config
from rpt.errors import RptError
from rpt.train.run import train

SOFT_REWARD = ["reward=proxy_prob", "reward.scorer=policy"]


def _series(run_dir: Path, column: str) -> list[float]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [float(r[column]) for r in csv.DictReader(f) if r.get(column)]


def test_gap_is_logged_and_tis_with_an_exact_engine_changes_nothing(train_args):
    """rollout=hf scores its samples with the policy itself: no gap, so every TIS weight is 1."""
    plain = train(load_config(train_args(*SOFT_REWARD, run="plain")))
    tis = train(load_config(train_args(*SOFT_REWARD, "grpo.tis_cap=2.0", run="tis")))
    assert len(_series(plain.run_dir, "off_policy/gap_max")) == 2
    assert max(_series(plain.run_dir, "off_policy/gap_max")) < 1e-5
    assert _series(tis.run_dir, "off_policy/tis_clip_frac") == [0.0, 0.0]
    # weights of 1 +- 1e-7 leave the update as it was (Adam would amplify that noise in final weights)
    for column in ("train/reward", "train/loss", "train/grad_norm"):
        assert _series(tis.run_dir, column) == pytest.approx(_series(plain.run_dir, column), rel=1e-4, abs=1e-6), column


def test_a_non_positive_tis_cap_is_a_config_error(train_args):
    with pytest.raises(RptError, match="tis_cap"):
        train(load_config(train_args("grpo.tis_cap=0")))
