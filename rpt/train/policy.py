"""Load the policy (or its frozen reference) from a Hugging Face folder or hub name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError

from rpt.errors import RptError
from rpt.models import resolve_model_path, to_dtype
from rpt.parallel.sharding import parallelize

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh

    from rpt.config import ModelConfig, StrategyConfig


def load_policy(model: "ModelConfig") -> torch.nn.Module:
    """`model.policy` as a causal LM in `model.dtype`; a clear RptError when it cannot be loaded."""
    from transformers import AutoModelForCausalLM

    source = resolve_model_path(model.policy, what="policy")
    try:
        return AutoModelForCausalLM.from_pretrained(source, dtype=to_dtype(model.dtype))
    except (OSError, ValueError, SafetensorError) as err:  # SafetensorError: a truncated or damaged weights file
        raise RptError(f"cannot load policy {model.policy!r}: {str(err).splitlines()[0]}") from None


def check_weight_files(policy: str) -> None:
    """Open the header of every safetensors file of a local model folder: a truncated or damaged
    one is reported before a run folder is created (loading it happens only when training starts)."""
    from pathlib import Path

    from safetensors import safe_open

    folder = Path(policy).expanduser()
    for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (OSError, SafetensorError) as err:
            raise RptError(f"cannot load policy {policy!r}: {path.name} is damaged ({str(err).splitlines()[0]})") from None

def load_parallel_policy(model: "ModelConfig", strategy: "StrategyConfig", mesh: "DeviceMesh | None",
                         device: torch.device) -> torch.nn.Module:
    """`model.policy` in its parallel form: under `strategy=fsdp`, built on the meta device and filled
    shard by shard (`rpt.parallel.loading`) when the folder holds safetensors weights, so no rank
    ever holds the whole model; otherwise loaded whole, then sharded."""
    from rpt.parallel.loading import load_sharded, safetensors_index

    source = resolve_model_path(model.policy, what="policy")
    if strategy.name == "fsdp" and mesh is not None and not Path(source).is_dir():
        source = _hub_snapshot(source)
    if strategy.name == "fsdp" and mesh is not None and safetensors_index(source) is not None:
        try:
            return load_sharded(source, model, strategy, mesh, device)
        except (OSError, ValueError) as err:
            raise RptError(f"cannot load policy {model.policy!r}: {str(err).splitlines()[0]}") from None
    return parallelize(load_policy(model), strategy, mesh)


def _hub_snapshot(name: str) -> str:
    """The local folder of a hub model's config and safetensors files (downloaded if needed, as
    `from_pretrained` would); the name itself when that fails, so the whole-model path reports it."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, allow_patterns=["*.json", "*.safetensors"])
    except Exception:  # noqa: BLE001 - any hub failure: from_pretrained gives the user-facing error
        return name
