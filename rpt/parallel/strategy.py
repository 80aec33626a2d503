"""The Lightning strategy for `cfg.strategy`: one device, DDP, or FSDP2 via ModelParallelStrategy.

Lightning's `FSDPStrategy` wraps with FSDP1 and refuses CPU; `ModelParallelStrategy` leaves the
wrapping to `configure_model` (see `rpt.parallel.sharding`), runs FSDP2 on GPUs and, with gloo,
on CPU, which is how the multi-process tests run.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.strategies import ModelParallelStrategy

from rpt.config import StrategyConfig
from rpt.errors import RptError
from rpt.config import STRATEGIES


def strategy_kwargs(cfg: StrategyConfig) -> dict[str, Any]:
    """Keyword arguments for `lightning.Trainer`: the strategy, and `devices=1` for `single`."""
    if cfg.name not in STRATEGIES:
        raise RptError(f"unknown strategy {cfg.name!r}; choose one of {', '.join(STRATEGIES)}")
    if cfg.name == "single":
        return {"strategy": "auto", "devices": 1}
    if cfg.name == "ddp":
        return {"strategy": "ddp"}
    if cfg.tensor_parallel_size < 1 or (cfg.data_parallel_size is not None and cfg.data_parallel_size < 1):
        raise RptError("strategy.data_parallel_size and strategy.tensor_parallel_size must be positive")
    return {"strategy": FSDP2Strategy(cfg.data_parallel_size, cfg.tensor_parallel_size, cfg.cpu_offload)}


class FSDP2Strategy(ModelParallelStrategy):
    """ModelParallelStrategy with rpt's defaults: data parallel over every rank, sharded checkpoints.

    Lightning's own default splits nodes into data-parallel and a node's GPUs into tensor-parallel
    groups; here `data_parallel_size=None` means world size / tensor_parallel_size, so plain FSDP
    shards over all ranks. With CPU offload, only buffers move to the GPU: the sharded parameters
    stay in CPU memory, where FSDP copies them from before each all-gather.
    """

    def __init__(self, data_parallel_size: int | None, tensor_parallel_size: int, cpu_offload: bool = False) -> None:
        super().__init__(data_parallel_size or "auto", tensor_parallel_size, save_distributed_checkpoint=True)
        self.cpu_offload = cpu_offload

    def setup_environment(self) -> None:
        requested = None if self._data_parallel_size == "auto" else self._data_parallel_size
        world_size = self.num_nodes * self.num_processes
        self._data_parallel_size = mesh_shape(world_size, requested, self._tensor_parallel_size)[0]
        super().setup_environment()

    def model_to_device(self) -> None:
        if not self.cpu_offload or self.root_device.type == "cpu":
            return super().model_to_device()
        for module in self.model.modules():
            for name, buffer in module.named_buffers(recurse=False):
                module._buffers[name] = buffer.to(self.root_device)
        return None


def mesh_shape(world_size: int, data_parallel: int | None, tensor_parallel: int) -> tuple[int, int]:
    """(data-parallel, tensor-parallel) sizes for `world_size` ranks; None = all ranks not used by TP."""
    if tensor_parallel < 1 or world_size % tensor_parallel:
        raise RptError(f"strategy.tensor_parallel_size={tensor_parallel} does not divide the {world_size} ranks")
    data_parallel = data_parallel or world_size // tensor_parallel
    if data_parallel * tensor_parallel != world_size:
        raise RptError(f"strategy.data_parallel_size={data_parallel} x tensor_parallel_size={tensor_parallel} "
                       f"must equal the {world_size} ranks (trainer.num_nodes x trainer.devices)")
    return data_parallel, tensor_parallel


def data_parallel_size(strategy: Any) -> int:
    """How many ranks hold different data (gradients are averaged over them)."""
    if isinstance(strategy, ModelParallelStrategy):
        return strategy.device_mesh["data_parallel"].size()
    return getattr(strategy, "world_size", 1)


def data_parallel_rank(strategy: Any) -> int:
    """This rank's index among the data-parallel ranks (tensor-parallel peers share it)."""
    if isinstance(strategy, ModelParallelStrategy):
        return strategy.device_mesh["data_parallel"].get_local_rank()
    return getattr(strategy, "global_rank", 0)


def data_parallel_group(strategy: Any) -> torch.distributed.ProcessGroup | None:
    """The process group over which batch-wide counts are summed (None = the whole world)."""
    if isinstance(strategy, ModelParallelStrategy):
        return strategy.device_mesh["data_parallel"].get_group()
    return None
