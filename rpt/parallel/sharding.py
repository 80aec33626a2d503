"""Turn a Hugging Face causal LM into its parallel form, inside `LightningModule.configure_model`.

`parallelize(model, cfg.strategy, device_mesh)` is the one call a module makes on each model it
owns (the policy, and the frozen reference model when the KL term is on):

- any strategy: activation checkpointing per decoder layer when `activation_checkpointing` is set;
- `fsdp`: optional tensor parallelism over the mesh's `tensor_parallel` dimension (the model's own
  `base_model_tp_plan`), then FSDP2 over `data_parallel`: one `fully_shard` per decoder layer, so
  only one or two layers are gathered at a time, and one on the root for the rest (embeddings,
  final norm, LM head). Mixed precision and CPU offload come from the strategy config.

The root stays gathered from its forward until the backward (`reshard_after_forward=False`): a
module may run the root forward for the final hidden states and then call the LM head itself,
chunk by chunk (`rpt.grpo.logprobs`). The root forward must run first, though: a submodule called
outside it sees only this rank's shard of the root's parameters.
"""

from __future__ import annotations

from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard
from transformers import PreTrainedModel

from rpt.config import StrategyConfig
from rpt.errors import RptError
from rpt.models import to_dtype

def parallelize(model: PreTrainedModel, cfg: StrategyConfig, device_mesh: DeviceMesh | None = None) -> PreTrainedModel:
    """Apply the strategy's activation checkpointing and sharding to `model` in place; returns it."""
    if cfg.activation_checkpointing and any(p.requires_grad for p in model.parameters()):
        enable_activation_checkpointing(model)
    if cfg.name != "fsdp":
        return model
    if device_mesh is None:
        raise RuntimeError("strategy=fsdp needs the device mesh of ModelParallelStrategy (self.device_mesh)")
    if device_mesh["tensor_parallel"].size() > 1:
        apply_tensor_parallel(model, device_mesh["tensor_parallel"])
    apply_fsdp(model, cfg, device_mesh["data_parallel"])
    return model


def apply_fsdp(model: PreTrainedModel, cfg: StrategyConfig, mesh: DeviceMesh) -> None:
    """FSDP2: one `fully_shard` unit per decoder layer, then the root (embeddings, norm, LM head)."""
    if cfg.cpu_offload and mesh.device_type == "cpu":
        raise RptError("strategy.cpu_offload needs GPUs: it keeps the GPUs' sharded state in CPU memory; set it to false")
    mp_policy = MixedPrecisionPolicy(param_dtype=to_dtype(cfg.param_dtype), reduce_dtype=to_dtype(cfg.reduce_dtype))
    offload_policy = CPUOffloadPolicy() if cfg.cpu_offload else OffloadPolicy()
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=mp_policy, offload_policy=offload_policy)
    fully_shard(model, mesh=mesh, mp_policy=mp_policy, offload_policy=offload_policy, reshard_after_forward=False)


def apply_tensor_parallel(model: PreTrainedModel, mesh: DeviceMesh) -> None:
    """Megatron-style tensor parallelism from the model's `base_model_tp_plan` (column/row-wise linears).

    Attention heads and MLP columns are split over `mesh`; each layer's output is all-reduced by
    the row-wise projections, so the residual stream stays replicated across the tensor-parallel ranks.
    """
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    config = model.config
    plan = getattr(config, "base_model_tp_plan", None) or {}
    styles = {"colwise": ColwiseParallel, "rowwise": RowwiseParallel}
    layer_plan = {}
    for pattern, style in plan.items():
        if not pattern.startswith("layers.*.") or style not in styles:
            raise RptError(f"{type(model).__name__}: tensor parallelism supports column/row-wise decoder-layer "
                           f"linears only, its plan has {pattern!r}: {style!r}; use strategy.tensor_parallel_size=1")
        layer_plan[pattern.removeprefix("layers.*.")] = styles[style]()
    if not layer_plan:
        raise RptError(f"{type(model).__name__} has no tensor-parallel plan; use strategy.tensor_parallel_size=1")
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    if config.num_attention_heads % mesh.size() or kv_heads % mesh.size():
        raise RptError(f"strategy.tensor_parallel_size={mesh.size()} must divide the attention heads "
                       f"({config.num_attention_heads}) and key/value heads ({kv_heads})")
    for layer in decoder_layers(model):
        parallelize_module(layer, mesh, layer_plan)


def enable_activation_checkpointing(model: PreTrainedModel) -> None:
    """Wrap every decoder layer so its activations are recomputed in backward (non-reentrant).

    torch's wrapper rather than transformers' switch: that one is off in eval mode, and GRPO
    trains the policy in eval mode (no dropout). State-dict names are unchanged by the wrapper.
    """
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import apply_activation_checkpointing

    layers = {id(layer) for layer in decoder_layers(model)}
    apply_activation_checkpointing(model, check_fn=lambda module: id(module) in layers)


def decoder_layers(model: PreTrainedModel) -> list[nn.Module]:
    """The repeated transformer blocks, found by the class names the model declares unsplittable.

    Classes are matched along the MRO: FSDP2 swaps a sharded module's class for a subclass.
    """
    names = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if any(cls.__name__ in names for cls in type(m).__mro__)]
    if not layers:
        raise RptError(f"cannot find the decoder layers of {type(model).__name__} to shard (no _no_split_modules)")
    return layers


