"""Scaling out: the Lightning strategy, FSDP2 sharding, cross-rank counts and checkpoint export."""

from rpt.parallel.checkpoint import export_checkpoint
from rpt.parallel.collectives import clip_grad_norm_, full_weights, global_sum, gradient_normaliser
from rpt.parallel.sharding import apply_fsdp, parallelize
from rpt.parallel.strategy import data_parallel_group, data_parallel_rank, data_parallel_size, strategy_kwargs

__all__ = [
    "apply_fsdp", "clip_grad_norm_", "data_parallel_group", "data_parallel_rank", "data_parallel_size",
    "export_checkpoint", "full_weights", "global_sum", "gradient_normaliser", "parallelize", "strategy_kwargs",
]
