"""Load the policy (or its frozen reference) from a Hugging Face folder or hub name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from rpt.errors import RptError
from rpt.models import resolve_model_path, to_dtype

if TYPE_CHECKING:
    from rpt.config import ModelConfig


def load_policy(model: "ModelConfig") -> torch.nn.Module:
    """`model.policy` as a causal LM in `model.dtype`; a clear RptError when it cannot be loaded."""
    from transformers import AutoModelForCausalLM

    source = resolve_model_path(model.policy, what="policy")
    try:
        return AutoModelForCausalLM.from_pretrained(source, dtype=to_dtype(model.dtype))
    except (OSError, ValueError) as err:
        raise RptError(f"cannot load policy {model.policy!r}: {str(err).splitlines()[0]}") from None
