"""Sharded loading: an FSDP2 policy built on the meta device and filled slice by slice from safetensors.

Loading a 14B policy whole on every rank before sharding it costs ~56 GB of host RAM per rank in
float32 (eight ranks a node). Here the model is built with its parameters on the meta device (no
memory), sharded (`rpt.parallel.sharding.parallelize`), given empty local storage, and then each
rank reads from the checkpoint only the rows (and, under tensor parallelism, columns) of each
parameter that its shard holds: safetensors reads a slice without reading the tensor, so host RAM
per rank is about its shard plus one parameter in flight. This is torchtitan's meta-device recipe
with each rank reading its own slices, rather than rank 0 reading everything and broadcasting
(`set_model_state_dict(..., broadcast_from_rank0=True)`), which would need the whole model on rank 0.

Buffers (rotary frequencies) are not in checkpoints: they are computed as usual at construction,
which is why only *parameters* go to the meta device.

Everything is filled here, inside `configure_model`: Lightning's ModelParallelStrategy would
otherwise find meta tensors in `setup` and re-initialise them with `reset_parameters()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from transformers import PreTrainedModel

from rpt.config import ModelConfig, StrategyConfig
from rpt.errors import RptError
from rpt.models import to_dtype
from rpt.parallel.sharding import parallelize

#: the name part torch's activation-checkpoint wrapper inserts (state dicts hide it, named_parameters do not)
_WRAPPED = "_checkpoint_wrapped_module."


def safetensors_index(folder: str | Path) -> dict[str, Path] | None:
    """Each weight's safetensors file in a Hugging Face folder; None when it has no safetensors weights."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {name: folder / file for name, file in weight_map.items()}
    single = folder / "model.safetensors"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(single, framework="pt") as f:
            return {name: single for name in f.keys()}
    return None


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside get their parameters on the meta device, their buffers as usual."""
    register = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None and not param.is_meta:  # a meta parameter is kept: tying assigns one twice
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def load_sharded(folder: str | Path, model: ModelConfig, strategy: StrategyConfig, mesh: DeviceMesh,
                 device: torch.device) -> PreTrainedModel:
    """The causal LM in `folder`, sharded by `strategy` over `mesh`, each rank holding only its shards.

    `folder` must hold safetensors weights (`safetensors_index` is not None). Parameters end on
    `device` in `model.dtype`; the model is in eval mode, as `from_pretrained` leaves it.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    index = safetensors_index(folder)
    if index is None:
        raise RptError(f"{folder} has no safetensors weights to load shard by shard")
    config = AutoConfig.from_pretrained(folder)
    with parameters_on_meta():
        policy = AutoModelForCausalLM.from_config(config, dtype=to_dtype(model.dtype))
    if (Path(folder) / "generation_config.json").is_file():
        policy.generation_config = GenerationConfig.from_pretrained(folder)
    parallelize(policy, strategy, mesh)
    buffers = {name: b.detach().clone() for name, b in policy.named_buffers()}
    policy.to_empty(device=device)
    with torch.no_grad():
        for name, buffer in policy.named_buffers():
            buffer.copy_(buffers[name])
        _fill_from_safetensors(policy, index, folder)
    return policy.eval()


def _fill_from_safetensors(policy: nn.Module, index: dict[str, Path], folder: str | Path) -> None:
    """Copy each parameter's local shard from its file, reading only the slice this rank holds."""
    from safetensors import safe_open
    from torch.distributed.tensor import DTensor
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    with ExitStack() as files:
        opened = {}
        for name, param in policy.named_parameters():  # tied weights come once
            key = name.replace(_WRAPPED, "")
            if key not in index:
                raise RptError(f"{folder} has no weight {key!r} for this model architecture")
            if index[key] not in opened:
                opened[index[key]] = files.enter_context(safe_open(index[key], framework="pt"))
            stored = opened[index[key]].get_slice(key)
            if isinstance(param, DTensor):
                shape, offset = compute_local_shape_and_global_offset(param.shape, param.device_mesh, param.placements)
                local = param.to_local()
                piece = stored[tuple(slice(o, o + s) for o, s in zip(offset, shape))]
            else:
                local, piece = param, stored[:]
            if tuple(piece.shape) != tuple(local.shape):
                raise RptError(f"{key}: stored slice {tuple(piece.shape)} does not fit the shard {tuple(local.shape)}")
            local.copy_(piece)
