"""Real multi-process `rpt train` runs on CPU (gloo): data parallelism must not change the numbers.

Every run trains the tiny Qwen2 with GRPO on the same global batch: 4 prompts x 4 samples per
step, samples from `FixedRollout` (a function of the prompt only, never of the rank), rewards
1 0 1 0 in every group, responses of 1-3 tokens (so ranks hold different token counts and a
per-rank normaliser would show). The one-process run is the reference; a 2-rank run must log the
same loss and gradient norm and end with the same weights (<= 1e-5). Launchers: Lightning's own
(it re-runs the command line in each rank), torchrun on one node, torchrun as two "nodes" meeting
at a rendezvous endpoint, and the environment srun gives each task under SLURM. Tensor
parallelism (2 ranks splitting each layer) must match too.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed.checkpoint as dcp
from transformers import AutoModelForCausalLM

from tests.parallel.conftest import free_port

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]
RPT = str(Path(sys.executable).parent / "rpt")
TIMEOUT = 600
INPUT = torch.tensor([[5, 17, 42, 7, 99, 3, 250, 11]])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_model_dir):
    from tests.fixtures import write_corpus

    path = tmp_path_factory.mktemp("multiprocess")
    write_corpus(path / "corpus.jsonl")
    return path


def overrides(workdir: Path, model: Path, run: str, *extra: str) -> list[str]:
    return [
        f"model.policy={model}",
        f"data.path={workdir / 'corpus.jsonl'}",
        f"data.cache_dir={workdir / 'cache'}",
        f"run.dir={workdir / run}",
        "prompt.template=direct",
        "prompt.chat=false",
        "rollout.name=tests.parallel.fakes.FixedRollout",
        "reward.name=tests.parallel.fakes.AlternatingReward",
        "sampling.n=4",
        "sampling.max_tokens=3",
        "trainer.prompts_per_step=4",
        "trainer.max_steps=1",
        "trainer.val_every=0",
        "trainer.accelerator=cpu",
        "logger.wandb.mode=disabled",
        "optim.lr=1e-4",
        *extra,
    ]


FSDP = ("strategy=fsdp", "strategy.param_dtype=null", "strategy.reduce_dtype=null")  # fp32 compute: exact comparisons


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, cwd=ROOT, env=kwargs.pop("env", env()), capture_output=True, text=True,
                            timeout=TIMEOUT, **kwargs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def step_metrics(run_dir: Path, step: int) -> dict[str, float]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss") and float(r["step"]) == step]
    assert len(rows) == 1, f"expected one logged row for step {step}"
    return {k: float(v) for k, v in rows[0].items() if v}


def exported(run_or_checkpoint: Path, out: Path) -> AutoModelForCausalLM:
    run([RPT, "export", str(run_or_checkpoint), str(out)])
    return AutoModelForCausalLM.from_pretrained(out)


def assert_same_step(run_dir: Path, reference_dir: Path, step: int) -> None:
    got, want = step_metrics(run_dir, step), step_metrics(reference_dir, step)
    for name in ("train/loss", "train/grad_norm", "train/reward", "train/response_len"):
        assert got[name] == pytest.approx(want[name], abs=1e-5, rel=1e-5), name


def assert_trained_by_two_ranks(run_dir: Path) -> None:
    """Each rank wrote its own shard: the launcher made one world of 2, not two worlds of 1."""
    checkpoint = run_dir / "checkpoints" / "step-000001.ckpt"
    assert sorted(p.name for p in checkpoint.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]


def assert_same_weights(model: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert state.keys() == reference.keys()
    for name, value in reference.items():
        torch.testing.assert_close(state[name], value, atol=1e-5, rtol=0, msg=name)


@pytest.fixture(scope="module")
def reference(workdir, tiny_model_dir) -> Path:
    """The one-process run, 2 steps, checkpointing after each."""
    run([RPT, "train", *overrides(workdir, tiny_model_dir, "single", "strategy=single", "trainer.max_steps=2",
                                  "trainer.ckpt_every=1")])
    return workdir / "single"


def reference_weights(reference: Path, step: int) -> dict[str, torch.Tensor]:
    """The policy's weights straight from the one-process checkpoint file (no export code involved)."""
    state = torch.load(reference / "checkpoints" / f"step-{step:06d}.ckpt", map_location="cpu", weights_only=False)
    weights = {k.removeprefix("policy."): v for k, v in state["state_dict"].items() if k.startswith("policy.")}
    weights.setdefault("lm_head.weight", weights["model.embed_tokens.weight"])  # tied: may be stored once
    return weights


@pytest.mark.parametrize("strategy", [FSDP, (*FSDP, "strategy.tensor_parallel_size=2"), ("strategy=ddp",)],
                         ids=["fsdp", "fsdp-tp2", "ddp"])
def test_two_ranks_take_the_same_step_as_one_process(strategy, workdir, tiny_model_dir, reference):
    name = "-".join(arg.split("=")[1] for arg in strategy if "param_dtype" not in arg and "reduce_dtype" not in arg)
    run([RPT, "train", *overrides(workdir, tiny_model_dir, name, *strategy, "trainer.devices=2")])
    assert_same_step(workdir / name, reference, step=1)
    assert_same_weights(exported(workdir / name, workdir / f"{name}-hf"), reference_weights(reference, 1))


def test_sharded_checkpoint_resumes_into_the_same_next_step(workdir, tiny_model_dir, reference):
    """2 ranks: 2 steps straight, vs 1 step, a sharded checkpoint, and a resumed second step."""
    args = overrides(workdir, tiny_model_dir, "fsdp-2steps", *FSDP, "trainer.devices=2", "trainer.max_steps=2",
                     "trainer.ckpt_every=1")
    run([RPT, "train", *args])
    straight = workdir / "fsdp-2steps"
    first = straight / "checkpoints" / "step-000001.ckpt"
    assert sorted(p.name for p in first.iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp", "meta.pt"]
    stored = dcp.FileSystemReader(first).read_metadata().state_dict_metadata
    assert any(k.startswith("optimizer_0.state.") and k.endswith("exp_avg_sq") for k in stored)  # AdamW state too

    resumed = workdir / "fsdp-resumed" / "checkpoints" / first.name
    shutil.copytree(first, resumed)
    run([RPT, "train", *overrides(workdir, tiny_model_dir, "fsdp-resumed", *FSDP, "trainer.devices=2",
                                  "trainer.max_steps=2", f"run.resume={resumed}")])
    assert_same_step(workdir / "fsdp-resumed", straight, step=2)
    assert_same_step(straight, reference, step=2)

    model = exported(straight, workdir / "fsdp-2steps-hf")
    assert_same_weights(exported(workdir / "fsdp-resumed", workdir / "fsdp-resumed-hf"), model.state_dict())
    assert_same_weights(model, reference_weights(reference, 2))
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    plain.load_state_dict(reference_weights(reference, 2))
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=INPUT).logits, plain(input_ids=INPUT).logits, atol=1e-5, rtol=0)


def test_torchrun_single_node_with_the_shipped_fsdp_config_and_hf_rollouts(workdir, tiny_model_dir):
    """strategy=fsdp as shipped (bf16 compute, activation checkpointing) and real `generate` rollouts."""
    args = overrides(workdir, tiny_model_dir, "torchrun", "strategy=fsdp", "trainer.devices=2")
    args = [a for a in args if not a.startswith(("rollout.", "reward."))]
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", RPT, "train", *args])
    assert_trained_by_two_ranks(workdir / "torchrun")
    metrics = step_metrics(workdir / "torchrun", step=1)
    assert 1 <= metrics["train/response_len"] <= 3 and torch.isfinite(torch.tensor(metrics["train/loss"]))


def test_torchrun_two_nodes_meeting_at_a_rendezvous(workdir, tiny_model_dir, reference):
    """Two torchrun agents, one process each, as on two machines: `--nnodes=2 --rdzv-endpoint=HOST:PORT`."""
    args = overrides(workdir, tiny_model_dir, "rendezvous", *FSDP, "trainer.devices=1", "trainer.num_nodes=2")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
                "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}", "--rdzv-id=rpt-test"]
    nodes = [subprocess.Popen([*launcher, f"--node-rank={rank}", RPT, "train", *args], cwd=ROOT, env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=TIMEOUT)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert_trained_by_two_ranks(workdir / "rendezvous")
    assert_same_step(workdir / "rendezvous", reference, step=1)


FAKE_SRUN = """#!/bin/bash
# stands in for srun on one node: starts SLURM_NTASKS copies of the command, each told its task id
while [[ "$1" == --* ]]; do shift; done
pids=()
for ((task = 0; task < SLURM_NTASKS; task++)); do
    SLURM_PROCID=$task SLURM_LOCALID=$task SLURM_NODEID=0 "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
"""


def test_slurm_sbatch_template_runs_and_resumes_when_requeued(workdir, tiny_model_dir, reference, tmp_path):
    """examples/slurm/rpt.sbatch with srun standing in: 2 tasks, 1 step; run again (a requeue): step 2 resumed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "rpt", "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2",
             "SLURM_JOB_NUM_NODES": "1", "SLURM_NNODES": "1", "SLURM_NODELIST": "127.0.0.1", "SLURM_CPUS_PER_TASK": "1",
             "RUN_DIR": str(workdir / "slurm"), "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"}
    args = [a for a in overrides(workdir, tiny_model_dir, "slurm", *FSDP) if not a.startswith("run.dir=")]
    sbatch = str(ROOT / "examples" / "slurm" / "rpt.sbatch")
    run(["bash", sbatch, *args], env=env(**slurm, MASTER_PORT=str(free_port())))
    assert_trained_by_two_ranks(workdir / "slurm")
    assert_same_step(workdir / "slurm", reference, step=1)
    run(["bash", sbatch, *args, "trainer.max_steps=2"], env=env(**slurm, MASTER_PORT=str(free_port())))
    assert_same_step(workdir / "slurm", reference, step=2)
    assert_same_step(workdir / "slurm", reference, step=1)  # still one row for step 1: resumed, not restarted
