"""Bad reward batches and non-finite updates stop the run with one line, before any weight changes."""

import math

import pytest
import torch

from rpt.api import RewardResult
from rpt.cli import main
from rpt.errors import RptError
from rpt.train.guards import check_finite_update, checked_rewards
from rpt.train.module import GRPOModule

BAD = "reward.name=tests.train.fake_rewards.BadReward"


@pytest.mark.parametrize("values, match", [
    ([0.0, float("nan"), 1.0], "returned nan for answer 1"),
    ([0.0, 1.0, 5.0], "returned 5.0 for answer 2"),
    ([-0.5, 1.0, 1.0], "returned -0.5 for answer 0"),
    ([0.0, float("inf"), 1.0], "returned inf for answer 1"),
    ([0.0, 1.0], "returned \\(2,\\) values for 3 answers"),
    ([[0.0, 1.0, 1.0]], "returned \\(1, 3\\) values for 3 answers"),
])
def test_a_bad_reward_batch_names_the_plugin_and_the_first_bad_value(values, match):
    with pytest.raises(RptError, match=f"reward plugin 'mine' {match}"):
        checked_rewards(RewardResult(torch.tensor(values)), ["a", "b", None], "mine")


def test_a_good_reward_batch_passes_as_float_values():
    values = checked_rewards(RewardResult(torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)), ["a", "b", "c"], "mine")
    assert values.dtype == torch.float32 and values.tolist() == [0.0, 0.25, 1.0]


@pytest.mark.parametrize("loss, norm, what", [(math.nan, 1.0, "loss"), (1.0, math.inf, "gradient norm"), (0.5, 0.3, None)])
def test_check_finite_update(loss, norm, what):
    if what is None:
        check_finite_update(0, torch.tensor(loss), torch.tensor(norm))
        return
    with pytest.raises(RptError, match=f"step 4: non-finite {what}"):
        check_finite_update(3, torch.tensor(loss), torch.tensor(norm))


def _last_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert "Traceback" not in err
    return lines[-1]


@pytest.mark.parametrize("option, shown", [("+reward.value=5.0", "returned 5.0"), ("+reward.value=nan", "returned nan"),
                                           ("+reward.short=true", "values for 16 answers")])
def test_training_stops_at_a_bad_reward_with_one_line(train_args, tmp_path, capsys, option, shown):
    assert main(["train", *train_args(BAD, option)]) == 2
    line = _last_line(capsys)
    assert line.startswith("rpt: error: reward plugin 'tests.train.fake_rewards.BadReward'") and shown in line
    assert not (tmp_path / "run" / "checkpoints").exists()  # stopped in step 1, before anything was saved


@pytest.mark.parametrize("inject", ["loss", "grad_norm"])
def test_a_non_finite_update_stops_before_the_optimizer_step(train_args, tmp_path, capsys, monkeypatch, inject):
    """Step 1 trains and is checkpointed; step 2's loss (or grad norm) is NaN: the run stops with one
    line, the weights in memory are step 1's and last.ckpt still points at step 1."""
    seen = {}
    if inject == "loss":
        real = GRPOModule._micro_batch_loss

        def poisoned(self, micro, normaliser):
            loss, logprobs = real(self, micro, normaliser)
            return (loss * float("nan") if self.next_step == 1 else loss), logprobs

        monkeypatch.setattr(GRPOModule, "_micro_batch_loss", poisoned)
    else:
        import rpt.train.module as module

        real_clip = module.clip_grad_norm_

        def poisoned_clip(params, max_norm):
            params = list(params)
            norm = real_clip(params, max_norm)
            return norm * float("inf") if seen["module"].next_step == 1 else norm

        monkeypatch.setattr(module, "clip_grad_norm_", poisoned_clip)
    real_fit_start = GRPOModule.on_fit_start

    def remember(self):
        seen["module"] = self
        real_fit_start(self)

    monkeypatch.setattr(GRPOModule, "on_fit_start", remember)
    assert main(["train", *train_args("trainer.max_steps=3", "trainer.ckpt_every=1")]) == 2
    line = _last_line(capsys)
    assert line.startswith("rpt: error: training stopped at step 2: non-finite ")
    assert ("loss" if inject == "loss" else "gradient norm") in line
    ckpts = tmp_path / "run" / "checkpoints"
    assert (ckpts / "last.ckpt").resolve().name == "step-000001.ckpt"
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "step-000001.ckpt"]
    saved = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    now = seen["module"].state_dict()
    for name, value in saved.items():
        assert torch.isfinite(value).all(), name
        torch.testing.assert_close(now[name], value, rtol=0, atol=0)  # no step was applied after step 1
