"""Fixtures for the parallel tests: a one-rank gloo process group, so FSDP2 runs inside pytest."""

from __future__ import annotations

import socket

import pytest
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def one_rank_mesh():
    """A (data_parallel=1, tensor_parallel=1) CPU mesh over a one-process gloo group, torn down after."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1, 1), mesh_dim_names=("data_parallel", "tensor_parallel"))
    finally:
        dist.destroy_process_group()
