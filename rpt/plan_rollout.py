"""The rollout phase of `rpt plan`: how many sequences a colocated engine holds at once, and how many waves a step takes.

A vLLM engine generates as many sequences at once as its KV cache holds; the rest wait for a free
slot. A step's rollout on one engine then takes about `waves = ceil(sequences / at_once)` rounds,
each as long as its longest response (8k tokens of reasoning for the paper), which is what sets
rollout time once the engine's share is fixed. Counted per engine, with pure arithmetic so any
caller (the planner, a plugin's own memory hook) can use it:

- KV bytes per token: keys and values of every layer, `2 x layers x kv_heads x head_dim x bytes`
  (bf16 cache: 2 bytes), split over the engine's tensor-parallel GPUs;
- the KV cache: the engine's share of a GPU minus its weights (bf16, split over tensor-parallel
  GPUs). vLLM also keeps its profiled activation peak and CUDA graphs inside the share, so the real
  cache is somewhat smaller: the counts are upper bounds;
- a sequence is budgeted at its full length (prompt + `sampling.max_tokens`), as a step's slowest
  responses reach it; vLLM's own `max_num_seqs` cap (256 by default) is not counted;
- an engine spanning `tensor_parallel` GPUs serves the prompts of all its ranks: `tensor_parallel x
  prompts per rank x sampling.n` sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: more scheduling waves per step than this and the plan warns
MAX_WAVES = 4


@dataclass(frozen=True)
class RolloutPlan:
    """One engine's rollout of one step."""

    kv_bytes_per_token: float  # per GPU of the engine
    kv_cache_bytes: float  # per GPU of the engine
    sequence_tokens: int
    at_once: int  # sequences whose full KV fits the cache together
    sequences: int  # the engine's sequences per step
    tensor_parallel: int

    @property
    def waves(self) -> int | None:
        """Rounds of generation a step needs; None when not even one sequence fits."""
        return math.ceil(self.sequences / self.at_once) if self.at_once else None

    def warning(self) -> str | None:
        """Advice when a step's rollout needs more than `MAX_WAVES` waves (or cannot run at all)."""
        if self.waves is not None and self.waves <= MAX_WAVES:
            return None
        now = "not one sequence fits" if self.waves is None else f"{self.waves} waves of at most {self.at_once} sequences"
        return (f"a step's rollout needs {now} per engine: raise rollout.gpu_memory_utilization, set "
                f"rollout.tensor_parallel_size={2 * self.tensor_parallel} (the weights split, more room for KV), "
                f"or give each rank fewer prompts (more GPUs, or a smaller trainer.prompts_per_step)")


def kv_bytes_per_token(num_layers: int, num_kv_heads: int, head_dim: int, dtype_bytes: int = 2,
                       tensor_parallel: int = 1) -> float:
    """Keys and values of one token over all layers, per GPU of an engine split over `tensor_parallel` GPUs."""
    return 2 * num_layers * num_kv_heads * head_dim * dtype_bytes / tensor_parallel


def plan_rollout(*, params: int, num_layers: int, num_kv_heads: int, head_dim: int, share_bytes: float,
                 sequence_tokens: int, prompts_per_rank: int, samples: int, tensor_parallel: int = 1,
                 dtype_bytes: int = 2) -> RolloutPlan:
    """The rollout of one engine: `share_bytes` of each of its GPUs (gpu_memory_utilization x GPU memory)."""
    per_token = kv_bytes_per_token(num_layers, num_kv_heads, head_dim, dtype_bytes, tensor_parallel)
    cache = max(share_bytes - params * dtype_bytes / tensor_parallel, 0.0)
    return RolloutPlan(
        kv_bytes_per_token=per_token,
        kv_cache_bytes=cache,
        sequence_tokens=sequence_tokens,
        at_once=int(cache // (per_token * sequence_tokens)),
        sequences=tensor_parallel * prompts_per_rank * samples,
        tensor_parallel=tensor_parallel,
    )
