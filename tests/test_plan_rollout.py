"""The rollout phase of `rpt plan`: KV bytes per token, sequences at once, scheduling waves (by hand)."""

from __future__ import annotations

from rpt.cli import main
from rpt.config import load_config
from rpt.plan import estimate, plan_inputs
from rpt.plan_rollout import kv_bytes_per_token, plan_rollout

GIB = 2**30
#: 1B parameters, 10 layers, 2 KV heads of 64: 2 (K, V) x 10 x 2 x 64 x 2 bytes = 5120 bytes per token
SMALL = dict(params=10**9, num_layers=10, num_kv_heads=2, head_dim=64, sequence_tokens=1000, samples=8)


def test_kv_bytes_per_token_by_hand():
    assert kv_bytes_per_token(10, 2, 64) == 5120
    assert kv_bytes_per_token(48, 8, 128) == 196608  # the 14B policy: 192 KiB per token
    assert kv_bytes_per_token(48, 8, 128, tensor_parallel=2) == 98304


def test_sequences_at_once_and_waves_by_hand():
    # 4 GiB share - 2e9 bytes of bf16 weights = 2294967296 bytes of cache; 5,120,000 per sequence -> 448
    plan = plan_rollout(**SMALL, share_bytes=4 * GIB, prompts_per_rank=16)
    assert plan.kv_cache_bytes == 4 * GIB - 2 * 10**9
    assert (plan.at_once, plan.sequences, plan.waves) == (448, 128, 1)
    assert plan.warning() is None
    # over 2 GPUs: half the weights and half of each token's KV per GPU, twice the prompts
    tp = plan_rollout(**SMALL, share_bytes=4 * GIB, prompts_per_rank=16, tensor_parallel=2)
    assert (tp.kv_bytes_per_token, tp.at_once, tp.sequences, tp.waves) == (2560, 1287, 256, 1)


def test_many_waves_warn_and_name_the_knobs():
    # 2e9 + 51,200,000 bytes: 10 sequences at once; 128 sequences -> 13 waves
    plan = plan_rollout(**SMALL, share_bytes=2 * 10**9 + 51_200_000, prompts_per_rank=16)
    assert (plan.at_once, plan.waves) == (10, 13)
    warning = plan.warning()
    for knob in ("13 waves", "rollout.gpu_memory_utilization", "rollout.tensor_parallel_size=2", "trainer.prompts_per_step"):
        assert knob in warning
    assert plan_rollout(**SMALL, share_bytes=2 * 10**9 + 51_200_000, prompts_per_rank=4).warning() is None  # 32 -> 4 waves


def test_no_room_for_one_sequence():
    plan = plan_rollout(**SMALL, share_bytes=10**9, prompts_per_rank=16)
    assert (plan.kv_cache_bytes, plan.at_once, plan.waves) == (0, 0, None)
    assert "not one sequence fits" in plan.warning()


def test_paper_14b_rollout_by_hand(capsys):
    """0.5 x 80 GiB share - 27.5 GiB of bf16 weights = 12.5 GiB; 12288 tokens (4096 prompt + 8192
    response) x 192 KiB = 2.25 GiB a sequence -> 5 at once; 256 prompts / 8 ranks x 8 samples = 256
    sequences -> 52 waves."""
    plan = estimate(plan_inputs(load_config(["experiment=paper_14b"]), gpu_gib=80, gpus_per_node=8)).rollout
    assert (plan.at_once, plan.sequences, plan.waves) == (5, 256, 52)
    assert main(["plan", "experiment=paper_14b"]) == 0
    out = capsys.readouterr().out
    assert "5 sequences of 12288 tokens at once" in out and "52 scheduling waves" in out and "warning" in out
