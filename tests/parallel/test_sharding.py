"""`parallelize` on one process: activation checkpointing and FSDP2 must not change the numbers.

The two-rank equivalence (sharded gradients averaged over ranks) is in test_multiprocess.py.
"""

import pytest
import torch
from torch import nn
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor

from rpt.config import StrategyConfig
from tests.fixtures import tiny_qwen2
from rpt.errors import RptError
from rpt.grpo.logprobs import response_logprobs
from rpt.models import to_dtype
from rpt.parallel.sharding import decoder_layers, parallelize

VOCAB = 97


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, VOCAB, (3, 5), generator=g)
    response = torch.randint(0, VOCAB, (3, 4), generator=g)
    response_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    return prompt, torch.ones_like(prompt), response, response_mask


def loss_and_grads(model: nn.Module) -> tuple[float, dict[str, torch.Tensor]]:
    """A token-mean NLL of responses, through the GRPO log-prob path (root forward, chunked head).

    Gradients are keyed by state-dict name (wrappers such as activation checkpointing removed)."""
    prompt, prompt_mask, response, response_mask = batch()
    logprobs, _ = response_logprobs(model, prompt, prompt_mask, response, response_mask, chunk_size=3)
    loss = -(logprobs * response_mask).sum() / response_mask.sum()
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        g = p.grad.full_tensor() if isinstance(p.grad, DTensor) else p.grad
        grads[name.replace("_checkpoint_wrapped_module.", "")] = g.detach().clone()
    return loss.item(), grads


def count_layer_forwards(model: nn.Module) -> list[int]:
    calls = [0]
    decoder_layers(model)[0].register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_activation_checkpointing_recomputes_layers_and_keeps_loss_and_gradients():
    plain_loss, plain = loss_and_grads(tiny_qwen2(VOCAB).eval())
    model = parallelize(tiny_qwen2(VOCAB), StrategyConfig(name="single", activation_checkpointing=True))
    model.eval()  # GRPO trains in eval mode (no dropout): checkpointing must stay on
    calls = count_layer_forwards(model)
    loss, grads = loss_and_grads(model)
    assert calls[0] == 2  # forward, and the recomputation in backward
    assert loss == pytest.approx(plain_loss, abs=1e-6)
    assert grads.keys() == plain.keys() and model.state_dict().keys() == tiny_qwen2(VOCAB).state_dict().keys()
    for name, g in plain.items():
        torch.testing.assert_close(grads[name], g, atol=1e-6, rtol=1e-5)


def test_fsdp_on_one_rank_shards_every_layer_and_root_and_keeps_the_numbers(one_rank_mesh):
    plain_loss, plain = loss_and_grads(tiny_qwen2(VOCAB))
    model = parallelize(tiny_qwen2(VOCAB), StrategyConfig(name="fsdp", activation_checkpointing=True), one_rank_mesh)
    assert isinstance(model, FSDPModule)
    assert all(isinstance(layer, FSDPModule) for layer in decoder_layers(model))
    assert all(isinstance(p, DTensor) for p in model.parameters())
    calls = count_layer_forwards(model.eval())
    loss, grads = loss_and_grads(model)
    assert calls[0] == 2
    assert loss == pytest.approx(plain_loss, abs=1e-6)
    assert grads.keys() == plain.keys()
    for name, g in plain.items():
        torch.testing.assert_close(grads[name], g, atol=1e-6, rtol=1e-5)


def test_fsdp_mixed_precision_computes_in_bf16_and_keeps_fp32_shards(one_rank_mesh):
    cfg = StrategyConfig(name="fsdp", param_dtype="bfloat16", reduce_dtype="float32")
    model = parallelize(tiny_qwen2(VOCAB), cfg, one_rank_mesh)
    seen = []
    decoder_layers(model)[0].mlp.register_forward_hook(lambda mod, args, out: seen.append(out.dtype))
    loss_and_grads(model)
    assert seen == [torch.bfloat16]
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert {p.grad.dtype for p in model.parameters()} == {torch.float32}


def test_cpu_offload_without_gpus_is_a_user_error(one_rank_mesh):
    with pytest.raises(RptError, match="cpu_offload needs GPUs"):
        parallelize(tiny_qwen2(VOCAB), StrategyConfig(name="fsdp", cpu_offload=True), one_rank_mesh)


def test_single_and_ddp_leave_the_model_unsharded():
    for name in ("single", "ddp"):
        model = parallelize(tiny_qwen2(VOCAB), StrategyConfig(name=name))
        calls = count_layer_forwards(model)
        loss_and_grads(model)
        assert not isinstance(model, FSDPModule) and calls[0] == 1  # no recomputation


def test_a_model_without_declared_layers_is_a_user_error():
    with pytest.raises(RptError, match="decoder layers"):
        decoder_layers(nn.Sequential(nn.Linear(2, 2)))


def test_dtype_names():
    assert to_dtype(None) is None and to_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(RptError, match="unknown dtype 'fp8'"):
        to_dtype("fp8")


def test_proxy_prob_scoring_with_an_fsdp_policy_leaves_it_trainable(one_rank_mesh):
    from types import SimpleNamespace

    from rpt.api import PluginContext
    from rpt.plugins.rewards.proxy_prob import ProxyProb

    model = parallelize(tiny_qwen2(VOCAB), StrategyConfig(name="fsdp"), one_rank_mesh)
    reward = ProxyProb(scorer="policy")
    reward.setup(PluginContext(tokenizer=None, policy=model))
    probs = reward.first_token_probs([SimpleNamespace(context_ids=[1, 2, 3])], [5, None], group_size=2)
    assert 0 < probs[0] < 1 and probs[1] == 0
    loss, grads = loss_and_grads(model)  # inference tensors in the unshard buffers would raise here
    assert all(g.abs().sum() > 0 for g in grads.values())
