"""`rpt train` end to end on a tiny model: run directory, metrics, checkpoints, resume, export, rewards."""

import csv
import time
from pathlib import Path

import pytest
import torch

from rpt.cli import main
from rpt.config import load_config
from rpt.train.module import TRAIN_METRICS
from rpt.train.run import train

SOFT_REWARD = ["reward=proxy_prob", "reward.scorer=policy"]  # never all-equal: every group has signal


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _series(run_dir: Path, column: str) -> list[tuple[int, float]]:
    return [(int(float(r["step"])), float(r[column])) for r in _rows(run_dir) if r.get(column)]


def _rows_by_step(run_dir: Path) -> dict[int, dict[str, str]]:
    return {int(float(r["step"])): r for r in _rows(run_dir) if r.get("time/step")}


def _policy_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("policy."): v for k, v in state.items()}


def test_rpt_train_writes_config_metrics_checkpoints_and_wandb(train_args, tmp_path, pretrained_dir, capsys):
    args = train_args(*SOFT_REWARD, "trainer.max_steps=3", "trainer.val_every=2", "trainer.ckpt_every=2",
                      "logger.wandb.mode=offline")
    began = time.perf_counter()
    assert main(["train", *args]) == 0
    elapsed = time.perf_counter() - began
    run_dir = tmp_path / "run"
    assert f"run: {run_dir}" in capsys.readouterr().out

    assert load_config(["model.policy=x", "data.path=y"]) and "sampling:" in (run_dir / "config.yaml").read_text()
    assert str(pretrained_dir) in (run_dir / "config.yaml").read_text()
    ckpts = run_dir / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("step-*.ckpt")) == ["step-000002.ckpt", "step-000003.ckpt"]
    assert (ckpts / "last.ckpt").resolve() == (ckpts / "step-000003.ckpt").resolve()
    assert not list(ckpts.glob(".*"))  # no half-written leftovers
    assert list((run_dir / "wandb").glob("offline-run-*"))
    import wandb

    assert wandb.run is None  # finished: a later wandb.init in this process (rpt report) starts its own

    assert [s for s, _ in _series(run_dir, "train/reward")] == [1, 2, 3]
    assert [s for s, _ in _series(run_dir, "val/ntp_acc")] == [0, 2, 3]  # before training, every 2 steps, at the end
    for column in ("train/accuracy", "train/format_error", "train/response_len", "train/clip_frac",
                   "train/approx_kl", "train/entropy", "train/grad_norm", "train/kept_ratio", "train/loss",
                   "val/reward", "reward/correct"):
        assert _series(run_dir, column), column
    assert all(v > 0 for _, v in _series(run_dir, "train/grad_norm"))
    for column in ("time/rollout", "time/reward", "time/update", "time/sync", "time/step",
                   "perf/generated_tokens_per_s", "perf/trained_tokens_per_s"):
        assert [s for s, v in _series(run_dir, column) if v > 0] == [1, 2, 3], column
    assert [s for s, _ in _series(run_dir, "time/validation")] == [0, 2, 3]
    assert all(0 < v < elapsed for _, v in _series(run_dir, "time/validation"))  # seconds, not a clock reading
    step, phases = _rows_by_step(run_dir), ("rollout", "reward", "logprobs", "update", "sync")
    assert all(sum(float(step[s][f"time/{p}"]) for p in phases) <= float(step[s]["time/step"]) for s in (1, 2, 3))
    assert not _series(run_dir, "perf/mfu")  # no MFU on CPU: no peak to divide by
    assert all(v == 1.0 for _, v in _series(run_dir, "train/response_len"))

    from transformers import AutoModelForCausalLM

    start = AutoModelForCausalLM.from_pretrained(pretrained_dir).state_dict()
    trained = _policy_weights(ckpts / "last.ckpt")
    assert max((trained[k] - start[k]).abs().max().item() for k in trained) > 1e-4


def test_k_steps_resume_k_steps_equals_2k_steps(train_args, tmp_path):
    """Weights, optimizer, scheduler, data position and RNG all come back (dynamic sampling on, several
    optimizer steps per step, warmup running across the break)."""
    common = (*SOFT_REWARD, "dynamic_sampling.start_step=1", "grpo.mini_batches=2", "grpo.micro_batch_size=3",
              "optim.warmup_steps=3", "trainer.ckpt_every=2")
    straight = train(load_config(train_args(*common, "trainer.max_steps=4", run="straight")))
    train(load_config(train_args(*common, "trainer.max_steps=2", run="split")))
    assert main(["train", *train_args(*common, "trainer.max_steps=4", "resume=last", run="split")]) == 0

    split_dir = tmp_path / "split"
    a, b = _policy_weights(straight.checkpoint), _policy_weights(split_dir / "checkpoints" / "last.ckpt")
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6)
    assert _series(split_dir, "train/reward") == _series(straight.run_dir, "train/reward")
    assert [s for s, _ in _series(split_dir, "train/kept_groups")] == [1, 2, 3, 4]
    assert _series(split_dir, "train/loss") == _series(straight.run_dir, "train/loss")
    # step 4 kept no group (all rewards equal, refills spent): no update, so no update metrics, not
    # the previous step's repeated (Lightning's self.log re-emitted them, and train/tokens overcounted)
    empty = [s for s, kept in _series(straight.run_dir, "train/kept_groups") if kept == 0]
    assert empty == [4]
    for column in ("train/loss", "train/grad_norm", "train/tokens"):
        assert all(s not in empty for s, _ in _series(straight.run_dir, column)), column


def test_export_writes_a_folder_plain_transformers_loads(train_args, tmp_path):
    result = train(load_config(train_args(*SOFT_REWARD)))
    assert main(["export", str(result.run_dir), str(tmp_path / "hf")]) == 0

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    AutoTokenizer.from_pretrained(tmp_path / "hf")
    trained = _policy_weights(result.checkpoint)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, trained.get(name, trained["model.embed_tokens.weight"]))


@pytest.mark.parametrize("missing, key", [("model.policy=null", "model.policy"), ("data.path=null", "data.path")])
def test_missing_required_values_are_one_line_errors(train_args, capsys, missing, key):
    assert main(["train", *train_args(missing)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err


def test_resume_without_a_checkpoint_is_a_one_line_error(train_args, capsys):
    assert main(["train", *train_args("resume=last")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_swapping_the_reward_is_one_override_and_changes_the_curve(train_args):
    curves = {}
    for reward in ("exact_match", "prefix_match", "proxy_prob", "dense"):
        extra = ["reward.scorer=policy"] if reward == "proxy_prob" else []
        result = train(load_config(train_args(f"reward={reward}", *extra, "sampling.max_tokens=2", run=reward)))
        curves[reward] = _series(result.run_dir, "train/reward")
    assert len({tuple(c) for c in curves.values()}) == 4, curves
    assert all(v > 0 for _, v in curves["proxy_prob"] + curves["dense"])  # soft credit for wrong answers


def test_dynamic_sampling_drops_groups_without_signal_and_refills(train_args):
    reward = "reward.name=tests.train.fake_rewards.ParityReward"
    result = train(load_config(train_args(reward, "trainer.max_steps=3", "dynamic_sampling.start_step=1",
                                          "dynamic_sampling.max_tries=8")))
    kept = dict(_series(result.run_dir, "train/kept_groups"))
    dropped = dict(_series(result.run_dir, "train/dropped_groups"))
    ratio = dict(_series(result.run_dir, "train/kept_ratio"))
    assert (kept[1], dropped[1], ratio[1]) == (4, 0, 1.0)  # step 0 (logged as 1) is before start_step
    assert kept[2] == kept[3] == 4 and dropped[2] + dropped[3] > 0 and ratio[2] < 1.0


def test_no_reference_model_without_kl_and_a_frozen_one_with_it(train_args):
    from rpt.models import load_tokenizer
    from rpt.train.module import GRPOModule

    for coef, has_reference in ((0.0, False), (0.1, True)):
        cfg = load_config(train_args(f"grpo.kl_coef={coef}"))
        module = GRPOModule(cfg, load_tokenizer(cfg.model.policy))
        module.configure_model()
        assert (module.reference is not None) == has_reference
        assert all(not n.startswith("reference") for n in module.state_dict())
        if has_reference:
            assert not any(p.requires_grad for p in module.reference.parameters())


def test_grpo_raises_the_reward_of_an_easy_target(train_args, tiny_model_dir):
    """From the untrained model, reward "the answer starts with a space": a sign or wiring error
    in the update would leave the share flat or push it down."""
    result = train(load_config(train_args(
        f"model.policy={tiny_model_dir}", "reward.name=tests.train.fake_rewards.SpaceReward",
        "sampling.n=8", "trainer.prompts_per_step=8", "trainer.max_steps=20", "optim.lr=3e-3",
    )))
    rewards = [v for _, v in _series(result.run_dir, "train/reward")]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > 2 * first + 0.05, rewards


def test_tokens_per_step_count_prompt_and_response_tokens_of_every_update_pass(train_args):
    # one-token contexts (direct template: the prompt is the context) and one-token answers
    args = train_args(*SOFT_REWARD, "data.max_context_tokens=1", "grpo.ppo_epochs=2")
    result = train(load_config(args))
    assert [v for _, v in _series(result.run_dir, "train/tokens")] == [4 * 4 * (1 + 1) * 2] * 2


def test_train_metrics_are_written_every_log_every_steps_with_every_column(train_args):
    """Steps finished 2 and 4 of 4 with trainer.log_every=2: every train/* and time/* metric, one row each."""
    result = train(load_config(train_args(*SOFT_REWARD, "trainer.max_steps=4", "trainer.log_every=2")))
    rows = [r for r in _rows(result.run_dir) if r.get("time/step")]
    assert [int(float(r["step"])) for r in rows] == [2, 4]
    for column in [f"train/{m}" for m in TRAIN_METRICS if m != "ref_kl"] + ["time/rollout", "time/update", "time/step"]:
        assert all(r.get(column) for r in rows), column
