"""One rank of tests/parallel/test_sharded_loading.py: load a policy both ways, write what each rank holds.

Run under torchrun: `python -m torch.distributed.run --nproc-per-node=2 -m tests.parallel.sharded_load_worker
MODEL OUT DP TP ACTIVATION_CHECKPOINTING`. Today's path (whole model, then sharded) is the reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor

from rpt.config import ModelConfig, StrategyConfig
from rpt.parallel.loading import load_sharded
from rpt.parallel.sharding import parallelize
from rpt.train.policy import load_policy


def local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def main(model_dir: str, out: str, dp: int, tp: int, checkpointing: bool) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (dp, tp), mesh_dim_names=("data_parallel", "tensor_parallel"))
    model = ModelConfig(policy=model_dir)
    strategy = StrategyConfig(name="fsdp", activation_checkpointing=checkpointing)
    today = parallelize(load_policy(model), strategy, mesh).eval()
    sharded = load_sharded(model_dir, model, strategy, mesh, torch.device("cpu"))
    want = dict(today.named_parameters())
    got = dict(sharded.named_parameters())
    buffers_want, buffers_got = dict(today.named_buffers()), dict(sharded.named_buffers())
    ids = torch.tensor([[5, 17, 42, 7, 99, 3, 250, 11]])
    with torch.no_grad():
        logits_gap = (today(input_ids=ids).logits - sharded(input_ids=ids).logits).abs().max().item()
    result = {
        "names": sorted(got) == sorted(want),
        "sharded": all(isinstance(p, DTensor) for p in got.values()),
        "local_shapes": {n: list(local(p).shape) for n, p in got.items()},
        "param_gap": max((local(got[n]) - local(want[n])).abs().max().item() for n in want),
        "dtypes": sorted({str(p.dtype) for p in got.values()}),
        "buffer_gap": max([(buffers_got[n] - buffers_want[n]).abs().max().item() for n in buffers_want] or [0.0]),
        "logits_gap": logits_gap,
        "eval": not sharded.training,
    }
    Path(out, f"rank{dist.get_rank()}.json").write_text(json.dumps(result))
    dist.barrier()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")
