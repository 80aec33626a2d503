"""Batch-wide sums across data-parallel ranks, so N ranks compute what one process would.

DDP and FSDP *average* gradients over the data-parallel ranks. A token-mean loss must divide the
sum of its per-token terms by the token count of the whole batch (all micro-batches, all ranks),
so each rank divides its local sum by `global count / ranks`: averaging those gradients gives the
gradient of `sum over every token / global count`, exactly the one-process gradient. Gradient
clipping needs the norm over every rank's shards, on whatever meshes they live.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def global_sum(value: torch.Tensor, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """`value` summed over the ranks of `group` (a detached copy; the value itself when not distributed)."""
    if not is_distributed():
        return value.detach().clone()
    total = value.detach().to(_communication_device(group), copy=True)
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return total.to(value.device)


def gradient_normaliser(local_count: torch.Tensor | float, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """The divisor for this rank's summed loss: the count over all ranks divided by the number of ranks.

    `local_count` is this rank's count for the whole optimizer step (tokens or sequences, summed
    over its micro-batches, e.g. from `rpt.grpo.loss.loss_normaliser`). Dividing each rank's summed
    loss by the result makes the averaged gradient equal to the one-process gradient of the
    global batch, and the mean of the ranks' loss values equal to the global loss.
    """
    count = torch.as_tensor(local_count, dtype=torch.float64)
    ranks = dist.get_world_size(group) if is_distributed() else 1
    return (global_sum(count, group) / ranks).float()


def clip_grad_norm_(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale gradients in place so their global L2 norm is at most `max_norm`; returns the norm before.

    Like `torch.nn.utils.clip_grad_norm_`, but for gradients sharded over different meshes (FSDP
    over data-parallel ranks for some, FSDP x tensor parallel for others), which torch's cannot
    combine: each mesh's squared norm is reduced over that mesh, then they are summed.
    """
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    by_mesh: dict[object, list[torch.Tensor]] = {}
    for grad in grads:
        by_mesh.setdefault(grad.device_mesh if isinstance(grad, DTensor) else None, []).append(grad)
    squared = []
    for group in by_mesh.values():
        total = torch.stack([torch.linalg.vector_norm(g.detach(), dtype=torch.float32) for g in group]).square().sum()
        squared.append((total.full_tensor() if isinstance(total, DTensor) else total).cpu())
    norm = torch.stack(squared).sum().sqrt()
    scale = float(max_norm) / (float(norm) + 1e-6)
    if scale < 1.0:
        torch._foreach_mul_(grads, scale)
    return norm


def _communication_device(group: dist.ProcessGroup | None) -> torch.device:
    """NCCL reduces GPU tensors only; gloo reduces CPU tensors."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def full_weights(module: torch.nn.Module, dtype: torch.dtype | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """The module's state by name, one full tensor at a time, floating-point ones in `dtype` (None: as stored).

    FSDP2 shards (DTensors) are cast on each rank *before* they are gathered, so pushing a float32
    master copy to a bf16 engine moves half the bytes. Every rank of a sharded module must consume
    the iterator in the same order (each gather is a collective); one gathered tensor is alive at a time.
    """
    from torch.distributed.tensor import DTensor

    for name, tensor in module.state_dict().items():
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        yield name, (tensor.full_tensor() if isinstance(tensor, DTensor) else tensor).detach()
