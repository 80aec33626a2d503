"""GRPO training with rollout=vllm: the engine follows every update, and training is as with rollout=hf."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rpt.cli import main
from rpt.config import load_config
from rpt.train.run import train
from tests.vllm import recording

pytestmark = pytest.mark.vllm

CHECKED = "rollout.name=tests.vllm.recording.CheckedVLLM"
SOFT_REWARD = ("reward=proxy_prob", "reward.scorer=policy")  # never all-equal: every group has signal
ENGINE = ["rollout=vllm", "rollout.kv_cache_gib=0.05", "rollout.max_model_len=256", "rollout.enforce_eager=true"]


@pytest.fixture
def train_args(vllm_pretrained_dir, tmp_path):
    from tests.fixtures import write_corpus

    corpus = write_corpus(tmp_path / "corpus.jsonl")

    def build(*extra: str, run: str = "run", reward: tuple[str, ...] = SOFT_REWARD) -> list[str]:
        return [
            f"model.policy={vllm_pretrained_dir}",
            f"data.path={corpus}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"run.dir={tmp_path / run}",
            "prompt.template=direct",
            "prompt.chat=false",
            *reward,
            "sampling.n=4",
            "sampling.temperature=1.0",
            "sampling.max_tokens=2",
            "trainer.prompts_per_step=4",
            "trainer.max_steps=3",
            "trainer.val_every=0",
            "trainer.accelerator=cpu",
            "logger.wandb.mode=disabled",
            "optim.lr=1e-2",
            *extra,
        ]

    return build


def series(run_dir: Path, column: str) -> list[float]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [float(r[column]) for r in csv.DictReader(f) if r.get(column)]


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]


def test_vllm_log_probs_follow_every_update_and_training_matches_rollout_hf(train_args, vllm_pretrained_dir):
    from transformers import AutoModelForCausalLM

    vllm_run = train(load_config(train_args(*ENGINE, CHECKED, run="vllm")))
    gaps = [gap for *_, gap in recording.RECORDED]
    assert len(gaps) == 3  # one rollout per step
    assert max(gaps) < 1e-3  # the engine sampled with the policy's current weights at every step
    assert series(vllm_run.run_dir, "rollout/weight_version") == [1.0, 2.0, 3.0]  # setup + one push per step
    assert series(vllm_run.run_dir, "rollout/weight_staleness") == [0.0, 0.0, 0.0]
    assert max(series(vllm_run.run_dir, "off_policy/gap_max")) < 1e-3  # what the trainer logs agrees

    hf_run = train(load_config(train_args("rollout=hf", "rollout.name=tests.vllm.recording.ReplayHF", run="hf")))
    for column in ("train/reward", "train/loss", "train/grad_norm", "train/response_len"):
        assert series(vllm_run.run_dir, column) == pytest.approx(series(hf_run.run_dir, column), abs=1e-6), column
    trained, replayed = weights(vllm_run.checkpoint), weights(hf_run.checkpoint)
    start = AutoModelForCausalLM.from_pretrained(vllm_pretrained_dir).state_dict()
    assert max((trained[f"policy.{k}"] - v).abs().max().item() for k, v in start.items() if f"policy.{k}" in trained) > 1e-4
    for name in trained:
        torch.testing.assert_close(trained[name], replayed[name], rtol=0, atol=1e-6)


def test_without_syncs_the_engine_falls_behind_and_the_trainer_sees_it(train_args):
    """The check above can fail: pushing only every 100 steps leaves the engine on the first weights;
    the trainer's gap metric shows it, and truncated importance sampling reweights those samples."""
    run = train(load_config(train_args(*ENGINE, CHECKED, "rollout.sync_every=100", "grpo.tis_cap=1.2", run="stale")))
    gaps = [gap for *_, gap in recording.RECORDED]
    assert gaps[0] < 1e-3 and min(gaps[1:]) > 1e-3
    assert series(run.run_dir, "rollout/weight_staleness") == [0.0, 1.0, 2.0]
    logged = series(run.run_dir, "off_policy/gap_max")
    assert logged[0] < 1e-3 and min(logged[1:]) > 1e-3
    assert series(run.run_dir, "off_policy/tis_clip_frac")[0] == 0.0


def test_rpt_train_with_rollout_vllm_from_the_cli(train_args, capsys):
    assert main(["train", *train_args(*ENGINE, "trainer.max_steps=1", run="cli")]) == 0
    assert "run:" in capsys.readouterr().out


def test_an_fsdp_sharded_policy_syncs_parameter_by_parameter(train_args):
    """Two ranks, FSDP2 over gloo, one engine per rank: after every step's push (each parameter gathered
    from its shards on the fly), the engine's log-probs equal the trainer's, as logged by the trainer."""
    rpt = Path(sys.executable).parent / "rpt"  # Lightning starts rank 1 by re-running this command line
    # proxy_prob with scorer=policy: its scoring forward passes also run on the sharded policy; the
    # corpus cache is fresh, so both ranks tokenise and write it at once
    sharded = ["strategy=fsdp", "strategy.param_dtype=float32", "trainer.devices=2"]
    args = train_args(*ENGINE, *sharded, run="fsdp")
    done = subprocess.run([str(rpt), "train", *args], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = Path(next(a for a in args if a.startswith("run.dir=")).removeprefix("run.dir="))
    assert series(run_dir, "rollout/weight_version") == [1.0, 2.0, 3.0]
    assert max(series(run_dir, "off_policy/gap_max")) < 1e-3
    assert all(0 < r < 1 for r in series(run_dir, "train/reward"))


def test_the_demo_trains_with_rollout_vllm(tmp_path, capsys):
    """`rpt train experiment=demo rollout=vllm` on the assets of a (shrunk) `rpt demo`, engine defaults."""
    demo_dir = tmp_path / "demo"
    shrunk = ["demo.documents=200", "demo.pretrain_steps=20", "trainer.max_steps=1", "trainer.val_tasks=32",
              "eval.max_positions=200", "logger.wandb.mode=disabled"]
    assert main(["demo", f"demo.dir={demo_dir}", *shrunk]) == 0
    run_dir = tmp_path / "vllm"
    argv = ["train", "experiment=demo", f"demo.dir={demo_dir}", "rollout=vllm", "trainer.max_steps=2",
            "trainer.val_every=0", f"run.dir={run_dir}", "logger.wandb.mode=disabled"]
    assert main(argv) == 0
    assert series(run_dir, "rollout/weight_version") == [1.0, 2.0]
    assert max(series(run_dir, "off_policy/gap_max")) < 1e-3


def test_torchrun_two_ranks_each_with_its_own_external_launcher_engine(train_args, tmp_path):
    """torchrun, 2 ranks (gloo), FSDP2 and grpo.mini_batches=4: each rank's engine joins the trainer's
    process group (vLLM's external_launcher), samples that rank's own prompts, gets one push per step
    (not one per mini-batch) and stays in log-prob parity with the sharded policy after every push."""
    import json
    import os

    rpt = Path(sys.executable).parent / "rpt"
    args = train_args(*ENGINE, CHECKED, "strategy=fsdp", "strategy.param_dtype=float32", "trainer.devices=2",
                      "grpo.mini_batches=4", run="torchrun")
    records = tmp_path / "records"
    root = str(Path(__file__).resolve().parents[2])  # the ranks import tests.vllm.recording
    env = {**os.environ, "RPT_RECORD_DIR": str(records), "OMP_NUM_THREADS": "1", "PYTHONPATH": root}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(rpt), "train", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((records / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank in ranks:
        assert rank["executor"] == "external_launcher" and rank["tensor_parallel_size"] == 1
        assert [c["weight_version"] for c in rank["calls"]] == [1.0, 2.0, 3.0]  # setup, then one push per step
        assert max(c["gap"] for c in rank["calls"]) < 1e-3
    for first, second in zip(ranks[0]["calls"], ranks[1]["calls"]):
        assert first["prompts"] != second["prompts"]  # each rank sampled its own share of the step's prompts
        assert len(first["responses"]) == len(first["prompts"]) * 4
