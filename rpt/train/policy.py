"""Load the policy (or its frozen reference) from a Hugging Face folder or hub name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError

from rpt.data.corpus import resolve_model_path
from rpt.errors import RptError
from rpt.parallel.sharding import to_dtype

if TYPE_CHECKING:
    from rpt.config import ModelConfig


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
