"""Where a training step's time goes: seconds per phase, tokens/s, and an MFU estimate on GPU.

Phases are timed with the host clock only (`time.perf_counter`), never a device synchronisation:
on a GPU, kernels still queued when a phase ends are paid by the phase that next waits on them
(the reward reads the rollout's tokens back, the metrics read the update's loss), so the split
stays honest at phase boundaries that synchronise anyway and the timing costs microseconds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

#: the phases of one step, in order; each is logged as `time/<phase>` (seconds, this rank).
#: Validation is timed apart, as `time/validation` next to the `val/*` metrics it produced.
PHASES = ("rollout", "reward", "logprobs", "update", "sync")

#: dense bf16 tensor-core peak TFLOP/s by GPU name (first match wins): the MFU denominator unless
#: `trainer.peak_tflops` says otherwise (other dtypes, other GPUs, clocks set below the spec)
GPU_PEAK_TFLOPS = (
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0), ("B200", 2250.0),
    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0), ("4090", 165.0), ("V100", 125.0),
)


class StepTimer:
    """Accumulates seconds per phase over one step; `finish` turns them into the step's metrics."""

    def __init__(self, flops_per_token: float | None = None, peak_flops: float | None = None) -> None:
        self.flops_per_token = flops_per_token  # forward FLOPs per token (2 x matmul parameters)
        self.peak_flops = peak_flops  # per device; None: no MFU (CPU, or an unknown GPU)
        self._seconds: dict[str, float] = defaultdict(float)
        self._tokens: dict[str, float] = defaultdict(float)
        self._start = time.perf_counter()
        self._first_start: float | None = None  # of this process's first step, for the ETA
        self._steps = 0

    def start(self) -> None:
        """A new step begins now."""
        self._seconds.clear()
        self._tokens.clear()
        self._start = time.perf_counter()
        if self._first_start is None:
            self._first_start = self._start

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Adds the wall time of the `with` body to `name` (phases may repeat within a step)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[name] += time.perf_counter() - start

    def count(self, kind: str, tokens: float) -> None:
        """Tokens of one kind this step: `generated`, `scored` (no-grad passes) or `trained`."""
        self._tokens[kind] += float(tokens)

    def finish(self) -> dict[str, float]:
        """`time/*` seconds, `perf/*` throughput (and MFU) for the step that ends now."""
        step = time.perf_counter() - self._start
        self._steps += 1
        seconds, tokens = self._seconds, self._tokens
        values = {f"time/{name}": seconds.get(name, 0.0) for name in PHASES}  # 0: skipped this step
        values["time/step"] = step
        if seconds.get("rollout"):
            values["perf/generated_tokens_per_s"] = tokens["generated"] / seconds["rollout"]
        if seconds.get("update"):
            values["perf/trained_tokens_per_s"] = tokens["trained"] / seconds["update"]
        if self.flops_per_token and self.peak_flops and step > 0:
            # a forward costs 2N per token, forward + backward 6N (attention scores left out)
            flops = self.flops_per_token * (tokens["generated"] + tokens["scored"] + 3 * tokens["trained"])
            values["perf/mfu"] = flops / (step * self.peak_flops)
        return values

    def eta_minutes(self, steps_left: int) -> float:
        """Minutes until `steps_left` more steps are done, at this process's pace so far (validation included)."""
        if self._first_start is None or self._steps == 0:
            return float("nan")
        return (time.perf_counter() - self._first_start) / self._steps * steps_left / 60


def flops_per_token(config: Any) -> float | None:
    """2 x the matmul parameters of a Llama-style decoder (Qwen, Mistral, ...) from its HF config:
    attention and MLP projections of every layer plus the output head. None if a field is missing."""
    try:
        h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or h // heads
        mlp = 3 * h * config.intermediate_size  # gate, up, down
    except AttributeError:
        return None
    attention = h * heads * head_dim * 2 + h * kv_heads * head_dim * 2  # q, o; k, v
    return 2.0 * (layers * (attention + mlp) + h * vocab)


def device_peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    """Peak FLOP/s of one device: the override, else the GPU's dense bf16 spec; None on CPU."""
    if override_tflops is not None:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops * 1e12 for key, tflops in GPU_PEAK_TFLOPS if key in name), None)
