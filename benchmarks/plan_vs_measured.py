"""`rpt plan`'s per-GPU estimate against the measured peak of one GRPO update step, on CPU.

    .venv/bin/python benchmarks/plan_vs_measured.py          # writes benchmarks/results/plan_vs_measured.md

Each case builds a small Qwen2, runs one update step exactly as `rpt train` does (policy in eval
mode, `parallelize`, root forward + chunked log-probs from `rpt.grpo.logprobs`, token-mean loss
over the global count, backward, AdamW step) and measures the peak of live tensor memory.

How the peak is measured: a `TorchDispatchMode` sees every tensor every op returns (forward,
backward, optimizer, FSDP's all-gathers and reduce-scatters); a storage's bytes count from the
op that creates it until it is freed (a weakref callback), the way `torch.cuda.max_memory_allocated`
counts on a GPU. Parameters, buffers and optimizer state alive before the step are the
baseline; the peak over the step is compared with the plan's training-step total. CPU RSS is no
use here: the allocator keeps freed pages and the interpreter and libraries add a GiB of noise.
FSDP cases run as two gloo ranks under torchrun; the larger rank's peak is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "plan_vs_measured.md"
MIB = 2**20


@dataclass
class Case:
    name: str
    strategy: str  # single | fsdp
    activation_checkpointing: bool
    param_dtype: str | None  # fsdp compute dtype
    hidden: int = 256
    layers: int = 4
    heads: int = 8
    kv_heads: int = 2
    intermediate: int = 768
    vocab: int = 8192
    micro_batch: int = 2
    prompt: int = 128
    response: int = 896
    chunk: int = 256
    world: int = 1


CASES = [
    Case("single, fp32, no checkpointing", "single", False, None),
    Case("single, fp32, checkpointing", "single", True, None),
    Case("fsdp x2, fp32, checkpointing", "fsdp", True, None, world=2),
    Case("fsdp x2, bf16 compute, checkpointing", "fsdp", True, "bfloat16", world=2),
    Case("fsdp x2, bf16 compute, no checkpointing", "fsdp", False, "bfloat16", world=2),
    Case("fsdp x2, bf16 compute, checkpointing, 12 layers", "fsdp", True, "bfloat16", world=2, layers=12,
         micro_batch=1, prompt=256, response=1792, chunk=512),
]


class LiveTensorBytes(TorchDispatchMode):
    """Bytes of CPU tensor storages alive, and their peak, over the ops run under this mode.

    Storages are held weakly and re-summed after every op, so a storage that is freed, or
    resized to nothing (how FSDP frees gathered parameters), stops counting at once.
    """

    def __init__(self, existing: list[torch.Tensor]) -> None:
        super().__init__()
        self.storages = WeakIdKeyDictionary()
        for tensor in existing:
            self.storages[tensor.untyped_storage()] = True
        self.baseline = self.peak = self.current()

    def current(self) -> int:
        return sum(storage.nbytes() for storage in list(self.storages.keys()))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for item in tree_flatten(out)[0]:
            item = local(item) if isinstance(item, torch.Tensor) else item  # a DTensor holds only its shard
            if isinstance(item, torch.Tensor) and item.device.type == "cpu" and not item.is_meta:
                self.storages[item.untyped_storage()] = True
        self.peak = max(self.peak, self.current())
        return out


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's part of a DTensor (whose wrapper reports the global size), else the tensor."""
    return getattr(tensor, "_local_tensor", tensor)


def measure(case: Case) -> dict:
    """One update step of `case` on this rank; returns baseline and peak bytes."""
    import torch.distributed as dist
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from rpt.config import StrategyConfig
    from rpt.grpo.logprobs import response_logprobs
    from rpt.parallel.collectives import gradient_normaliser
    from rpt.parallel.sharding import parallelize

    torch.set_num_threads(1)
    mesh = None
    if case.strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh

        dist.init_process_group("gloo")
        mesh = init_device_mesh("cpu", (case.world, 1), mesh_dim_names=("data_parallel", "tensor_parallel"))
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=case.vocab, hidden_size=case.hidden, intermediate_size=case.intermediate,
        num_hidden_layers=case.layers, num_attention_heads=case.heads, num_key_value_heads=case.kv_heads,
        tie_word_embeddings=False, attn_implementation="sdpa",
    )
    model = Qwen2ForCausalLM(config)
    cfg = StrategyConfig(name=case.strategy, activation_checkpointing=case.activation_checkpointing,
                         param_dtype=case.param_dtype, reduce_dtype="float32" if case.param_dtype else None)
    parallelize(model, cfg, mesh).eval()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, case.vocab, (case.micro_batch, case.prompt), generator=generator)
    response = torch.randint(0, case.vocab, (case.micro_batch, case.response), generator=generator)
    ones_p, ones_r = torch.ones_like(prompt), torch.ones_like(response)

    def step() -> None:
        logprobs, _ = response_logprobs(model, prompt, ones_p, response, ones_r, chunk_size=case.chunk)
        loss = -(logprobs * ones_r).sum() / gradient_normaliser(ones_r.sum())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # the optimizer state exists from here on, as in every step after the first
    existing = [local(p) for p in model.parameters()] + list(model.buffers())
    existing += [local(t) for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    with LiveTensorBytes(existing) as tracker:
        step()
    result = {"baseline": tracker.baseline, "peak": tracker.peak}
    if dist.is_initialized():
        gathered = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, result)
        result = max(gathered, key=lambda r: r["peak"])
        dist.destroy_process_group()
    return result


def plan_for(case: Case):
    from rpt.plan import ModelShape, PlanInputs, estimate

    shape = ModelShape(case.vocab, case.hidden, case.intermediate, case.layers, case.heads, case.kv_heads,
                       case.hidden // case.heads, tied_embeddings=False, qkv_bias=True)
    compute = case.param_dtype or "float32"
    return estimate(PlanInputs(
        model_name=case.name, shape=shape, prompt_tokens=case.prompt, response_tokens=case.response,
        micro_batch=case.micro_batch, world_size=case.world, data_parallel=case.world, tensor_parallel=1,
        master_dtype="float32", compute_dtype=compute, reduce_dtype="float32",
        strategy=case.strategy, activation_checkpointing=case.activation_checkpointing,
        cpu_offload=False, logprob_chunk=case.chunk, gpu_gib=80.0,
    ))


def run_case(case: Case) -> dict:
    """Measure `case` in fresh processes (torchrun for FSDP), so nothing leaks between cases."""
    out = ROOT / "benchmarks" / "results" / ".plan_case.json"
    args = [__file__, "--measure", json.dumps(asdict(case)), "--out", str(out)]
    if case.world > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={case.world}", *args]
    else:
        command = [sys.executable, *args]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=ROOT)
    result = json.loads(out.read_text())
    out.unlink()
    return result


def report(rows: list[tuple[Case, dict]]) -> str:
    lines = [
        "# `rpt plan` vs measured peak memory (CPU)",
        "",
        "Generated by `benchmarks/plan_vs_measured.py` (method in its docstring). One GRPO update step",
        "(root forward, chunked log-probs, token-mean loss, backward, AdamW) on a small Qwen2; the peak",
        "is live tensor bytes per rank, the way a GPU's `max_memory_allocated` counts. No GPU was",
        "available for this run, so the check is on CPU only.",
        "",
        "| case | model | tokens/rank | estimate MiB | measured MiB | estimate / measured |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for case, measured in rows:
        plan = plan_for(case)
        estimate_mib, measured_mib = plan.training_peak / MIB, measured["peak"] / MIB
        lines.append(
            f"| {case.name} | h{case.hidden} L{case.layers} V{case.vocab} | {case.micro_batch}x{case.prompt + case.response} "
            f"| {estimate_mib:.1f} | {measured_mib:.1f} | {estimate_mib / measured_mib:.2f} |"
        )
    plan = plan_for(rows[-1][0])
    lines += ["", "The estimate of the last case, part by part (MiB):", "", "| part | MiB |", "| --- | ---: |"]
    for title, parts in (("held", plan.held), ("start of backward", plan.early), ("end of backward", plan.late)):
        lines += [f"| {title}: {label} | {b / MIB:.1f} |" for label, b in parts]
    lines += [
        "",
        "Reading: the estimate is high in every case, by 7-29%, so a plan that fits leaves that much",
        "slack. The largest excess (FSDP in fp32, 29%) is in FSDP's transient buffers: the root's and a",
        "layer's unsharded gradients and reduce-scatter buffers are counted as alive together with the",
        "recomputed layer, and the root (embeddings, LM head) is over half of these small models, far",
        "more than of a 14B model. Autograd saves the same tensors on a GPU; what this CPU check cannot",
        "see is the CUDA allocator's fragmentation and library workspaces, which the excess partly",
        "covers. To be repeated on a GPU (`torch.cuda.max_memory_allocated`) when one is available.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        result = measure(Case(**json.loads(args.measure)))
        if int(os.environ.get("RANK", "0")) == 0:
            Path(args.out).write_text(json.dumps(result))
        return
    rows = []
    for case in CASES:
        rows.append((case, run_case(case)))
        print(f"{case.name}: measured {rows[-1][1]['peak'] / MIB:.1f} MiB, estimate {plan_for(case).training_peak / MIB:.1f} MiB")
    RESULTS.write_text(report(rows))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
