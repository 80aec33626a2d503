"""The trainer logs how far the rollout engine's log-probs are from the policy's, and can reweight by TIS.

rollout=hf samples from the policy itself and reports no log-probs. An engine that does report
them is played here by rollout=hf with its samples' log-probs recomputed by the trainer's own
function (what the plugin returned before it stopped computing them) minus a known offset.
"""

import csv
import math
from pathlib import Path

import pytest
import torch

from rpt.api import left_pad, response_logprobs, right_pad
from rpt.config import load_config
from rpt.errors import RptError
from rpt.plugins.rollout.hf import HFRollout
from rpt.train.run import train

SOFT_REWARD = ["reward=proxy_prob", "reward.scorer=policy"]
OFFSET = 0.1  # the stand-in engine reports every sampled token this many nats less likely than the policy


def _series(run_dir: Path, column: str) -> list[float]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [float(r[column]) for r in csv.DictReader(f) if r.get(column)]


@pytest.fixture
def engine_reports_logprobs(monkeypatch):
    """rollout=hf, reporting the policy's log-probs of its samples (softmax(logits / T)) minus OFFSET."""
    generate = HFRollout.generate

    def with_logprobs(self: HFRollout, prompts, params):
        out = generate(self, prompts, params)
        device = next(self.model.parameters()).device
        prompt_ids, prompt_mask = left_pad([list(p) for p in prompts for _ in range(params.n)], self._pad_id(), device)
        response_ids, response_mask = right_pad(out.response_ids, self._pad_id(), device)
        with torch.no_grad():
            values, _ = response_logprobs(self.model, prompt_ids, prompt_mask, response_ids, response_mask, 1024,
                                          params.temperature or 1.0)
        out.response_logprobs = [(row[: len(r)] - OFFSET).tolist() for row, r in zip(values, out.response_ids)]
        return out

    monkeypatch.setattr(HFRollout, "generate", with_logprobs)


def test_an_engine_that_is_the_policy_logs_no_gap_and_tis_changes_nothing(train_args):
    """rollout=hf reports no log-probs: no off_policy/* columns, TIS weighs nothing and needs no extra pass."""
    plain = train(load_config(train_args(*SOFT_REWARD, run="plain")))
    tis = train(load_config(train_args(*SOFT_REWARD, "grpo.tis_cap=2.0", run="tis")))
    assert _series(plain.run_dir, "off_policy/gap_max") == [] and _series(tis.run_dir, "off_policy/tis_clip_frac") == []
    assert _series(tis.run_dir, "time/logprobs") == [0.0, 0.0]  # the on-policy fast path
    for column in ("train/reward", "train/loss", "train/grad_norm", "train/entropy"):
        assert _series(tis.run_dir, column) == _series(plain.run_dir, column), column


def test_gap_and_tis_weights_follow_the_engines_logprobs(train_args, engine_reports_logprobs, monkeypatch):
    """Log-probs OFFSET below the policy's: the gap metrics say so, the update without TIS is the
    policy's own, and TIS scales every token's gradient by min(e^OFFSET, cap)."""
    gap = train(load_config(train_args(*SOFT_REWARD, run="gap")))
    assert _series(gap.run_dir, "off_policy/gap_mean") == pytest.approx([OFFSET] * 2, abs=1e-5)
    assert _series(gap.run_dir, "off_policy/gap_max") == pytest.approx([OFFSET] * 2, abs=1e-5)
    assert _series(gap.run_dir, "off_policy/kl") == pytest.approx([math.expm1(OFFSET) - OFFSET] * 2, abs=1e-5)

    uncapped = train(load_config(train_args(*SOFT_REWARD, "grpo.tis_cap=2.0", run="uncapped")))
    capped = train(load_config(train_args(*SOFT_REWARD, "grpo.tis_cap=1.05", run="capped")))
    assert all(s > 0 for s in _series(uncapped.run_dir, "time/logprobs"))  # TIS needs the log-probs before the update
    assert _series(uncapped.run_dir, "off_policy/tis_clip_frac") == [0.0, 0.0]
    assert _series(capped.run_dir, "off_policy/tis_clip_frac") == [1.0, 1.0]

    monkeypatch.undo()  # the real rollout=hf: what the trainer does with no engine log-probs
    plain = train(load_config(train_args(*SOFT_REWARD, run="plain")))
    for column in ("train/reward", "train/loss", "train/grad_norm", "train/entropy"):
        assert _series(gap.run_dir, column) == _series(plain.run_dir, column), column
    # the first step samples the same tokens from the same weights: a constant weight w on every
    # token's term scales the gradient by w
    first_norm = _series(plain.run_dir, "train/grad_norm")[0]
    assert _series(uncapped.run_dir, "train/grad_norm")[0] == pytest.approx(math.exp(OFFSET) * first_norm, rel=1e-4)
    assert _series(capped.run_dir, "train/grad_norm")[0] == pytest.approx(1.05 * first_norm, rel=1e-4)


def test_a_non_positive_tis_cap_is_a_config_error(train_args):
    with pytest.raises(RptError, match="tis_cap"):
        train(load_config(train_args("grpo.tis_cap=0")))
