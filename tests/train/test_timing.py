"""Step timings: phase seconds, throughput and MFU from a controlled clock; FLOPs per token from a model."""

import pytest
import torch

from rpt.train import timing
from rpt.train.timing import PHASES, StepTimer, device_peak_flops, flops_per_token


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_phases_accumulate_and_give_throughput_and_mfu(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    timer = StepTimer(flops_per_token=10.0, peak_flops=1000.0)
    timer.start()
    for _ in range(2):  # a phase entered twice in a step adds up
        with timer.phase("rollout"):
            clock.now += 1.5
    with timer.phase("update"):
        clock.now += 2.0
    clock.now += 1.0  # time outside every phase still counts for the step
    timer.count("generated", 30)
    timer.count("trained", 40)
    timer.count("scored", 10)
    values = timer.finish()
    assert values["time/rollout"] == 3.0 and values["time/update"] == 2.0
    assert values["time/reward"] == values["time/logprobs"] == values["time/sync"] == 0.0  # skipped phases log 0
    assert values["time/step"] == 6.0
    assert values["perf/generated_tokens_per_s"] == 10.0  # 30 tokens / 3 s
    assert values["perf/trained_tokens_per_s"] == 20.0  # 40 tokens / 2 s
    # 2N per generated or scored token, 6N per trained token: 10 * (30 + 10 + 3 * 40) / (6 s * 1000)
    assert values["perf/mfu"] == pytest.approx(1600 / 6000)
    assert {f"time/{p}" for p in PHASES} <= values.keys()

    timer.start()  # the next step starts from zero
    clock.now += 4.0
    assert timer.finish()["time/step"] == 4.0
    assert timer.eta_minutes(30) == pytest.approx((6.0 + 4.0) / 2 * 30 / 60)  # mean pace of this process


def test_no_mfu_without_a_peak():
    timer = StepTimer(flops_per_token=10.0, peak_flops=None)
    timer.start()
    assert "perf/mfu" not in timer.finish()
    assert device_peak_flops(torch.device("cpu"), None) is None
    assert device_peak_flops(torch.device("cpu"), 2.5) == 2.5e12  # the user's number wins anywhere


def test_flops_per_token_counts_every_matmul_weight_twice():
    from tests.fixtures import tiny_qwen2

    model = tiny_qwen2(vocab_size=300, hidden_size=32, layers=2, heads=4)
    model.config.num_key_value_heads = 2
    model = type(model)(model.config)  # grouped-query attention: k and v are narrower than q
    matmuls = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert flops_per_token(model.config) == 2 * matmuls
    assert flops_per_token(object()) is None
