"""`rpt plan`: the arithmetic against hand-computed numbers and real parameter counts.

The estimate's agreement with measured peaks is benchmarks/plan_vs_measured.py's job.
"""

import pytest
from transformers import Qwen2Config, Qwen2ForCausalLM

from rpt.cli import main
from rpt.config import load_config
from rpt.errors import RptError
from rpt.plan import ModelShape, PlanInputs, estimate, layer_activation_bytes, plan_inputs, read_model_config
from rpt.plugins.rollout.vllm import VLLMRollout


@pytest.mark.parametrize("tied", [True, False])
def test_parameter_count_matches_the_model(tied):
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    shape = ModelShape.from_config(config.to_dict())
    model = Qwen2ForCausalLM(config)
    assert shape.params() == sum(p.numel() for p in model.parameters())
    assert shape.layer_params() == sum(p.numel() for p in model.model.layers[0].parameters())


def test_the_paper_policy_is_known_and_has_14_8b_parameters():
    shape = ModelShape.from_config(read_model_config("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"))
    assert shape.params() == pytest.approx(14.77e9, rel=1e-3)


def test_layer_activation_bytes_by_hand():
    shape = ModelShape(vocab_size=10, hidden_size=8, intermediate_size=16, num_layers=1, num_heads=2,
                       num_kv_heads=1, head_dim=4, tied_embeddings=True, qkv_bias=False)
    # norms 2 x (4 + 2) x 8 = 96; attention 5 x 2 x 8 + 4 x 2 x 4 + 4 x 2 = 120; MLP 4 x 2 x 16 = 128
    assert layer_activation_bytes(shape, compute_bytes=2) == 96 + 120 + 128
    assert layer_activation_bytes(shape, compute_bytes=2, tensor_parallel=2) == 96 + (120 + 128) / 2


def inputs(**changes) -> PlanInputs:
    shape = ModelShape(vocab_size=1000, hidden_size=100, intermediate_size=300, num_layers=10, num_heads=4,
                       num_kv_heads=4, head_dim=25, tied_embeddings=False, qkv_bias=False)
    base = dict(model_name="m", shape=shape, prompt_tokens=100, response_tokens=900, micro_batch=1, world_size=4,
                data_parallel=4, tensor_parallel=1, master_dtype="float32", compute_dtype="bfloat16",
                reduce_dtype="float32", strategy="fsdp", activation_checkpointing=True, cpu_offload=False,
                logprob_chunk=500, gpu_gib=1.0)
    return PlanInputs(**(base | changes))


def test_fsdp_plan_by_hand():
    plan = estimate(inputs())
    params = 10 * (4 * 100 * 100 + 3 * 100 * 300 + 200) + 2 * 1000 * 100 + 100  # 1,502,100
    rows = dict(plan.held + plan.early + plan.late)
    assert rows["parameters (float32 shards)"] == params * 4 / 4
    assert rows["optimizer state (AdamW, float32)"] == 2 * params * 4 / 4
    assert rows["gathered params (root + 2 layers, bfloat16)"] == (200_100 + 2 * 130_200) * 2
    assert rows["activations (checkpointed: each layer's input)"] == 1000 * (10 * 2 * 100 + 6 * 100)
    assert rows["logits chunk (500 x 1000) and its gradient"] == 500 * 1000 * 14
    assert plan.training_peak == sum(b for _, b in plan.held) + max(
        sum(b for _, b in plan.early), sum(b for _, b in plan.late))
    assert plan.fits


def test_what_changes_the_verdict():
    assert not estimate(inputs(gpu_gib=0.01)).fits
    sharded, replicated = estimate(inputs()), estimate(inputs(strategy="ddp", data_parallel=4))
    assert replicated.training_peak > sharded.training_peak
    offloaded = estimate(inputs(cpu_offload=True))
    assert offloaded.training_peak < sharded.training_peak and offloaded.offloaded
    assert estimate(inputs(activation_checkpointing=False)).training_peak > sharded.training_peak


def test_a_kl_reference_model_adds_its_shards_and_gathered_root():
    base, with_reference = estimate(inputs()), estimate(inputs(reference=True))
    params = 10 * 130_200 + 200_100
    assert with_reference.training_peak - base.training_peak == params * 4 / 4 + 200_100 * 2


def test_a_vllm_share_too_small_for_the_weights_is_flagged():
    plan = estimate(inputs(plugins=[VLLMRollout(gpu_memory_utilization=0.001, sleep=True)]))
    assert not plan.fits and "gpu_memory_utilization" in plan.notes[0]
    asleep = estimate(inputs(plugins=[VLLMRollout(gpu_memory_utilization=0.5, sleep=True)]))
    assert asleep.rollout_peak > estimate(inputs()).rollout_peak
    # awake throughout, the share is held through the step: half of the 1 GiB GPU
    awake = estimate(inputs(plugins=[VLLMRollout(gpu_memory_utilization=0.5)]))
    assert awake.training_peak - estimate(inputs()).training_peak == 0.5 * 2**30


def test_plugins_report_their_own_memory(tiny_model_dir):
    """The planner asks each plugin (the contract's `memory_needs`); it knows none by name."""
    cfg = load_config([f"model.policy={tiny_model_dir}", f"model.proxy={tiny_model_dir}", "reward=proxy_prob"])
    i = plan_inputs(cfg, gpu_gib=80, gpus_per_node=1)
    rows = dict(estimate(i).held)
    assert rows["proxy LM (reward=proxy_prob, bf16, full copy)"] == i.shape.params() * 2  # the proxy is the policy here
    assert "proxy LM (reward=proxy_prob, bf16, full copy)" not in dict(estimate(plan_inputs(
        load_config([f"model.policy={tiny_model_dir}", f"model.proxy={tiny_model_dir}"]), 80, 1)).held)


def test_plan_inputs_from_config(tiny_model_dir):
    cfg = load_config([f"model.policy={tiny_model_dir}", "strategy=fsdp", "trainer.num_nodes=2",
                       "trainer.devices=4", "strategy.tensor_parallel_size=2", "sampling.max_tokens=64"])
    i = plan_inputs(cfg, gpu_gib=80, gpus_per_node=8)
    assert (i.world_size, i.data_parallel, i.tensor_parallel) == (8, 4, 2)
    assert i.shape.hidden_size == 64 and i.response_tokens == 64 and i.compute_dtype == "bfloat16"
    auto = plan_inputs(load_config([f"model.policy={tiny_model_dir}", "strategy=ddp"]), gpu_gib=80, gpus_per_node=8)
    assert auto.world_size == 8 and auto.strategy == "ddp" and not auto.reference
    assert plan_inputs(load_config([f"model.policy={tiny_model_dir}", "grpo.kl_coef=0.1"]), 80, 8).reference


def test_unknown_model_is_a_user_error():
    with pytest.raises(RptError, match="no config.json"):
        read_model_config("someone/unknown-model")


def test_cli(tiny_model_dir, capsys):
    assert main(["plan", f"model.policy={tiny_model_dir}", "strategy=fsdp", "--gpu-gib", "24"]) == 0
    out = capsys.readouterr().out
    assert "training step peak" in out and "verdict    fits" in out
    assert main(["plan", "model.policy=./missing-model"]) == 2
    assert capsys.readouterr().err.startswith("rpt: error: no config.json")
