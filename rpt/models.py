"""Find and load models and tokenizers (a local Hugging Face folder or a hub name), and the dtype names.

Everything that loads a model goes through here: the trainer's policy, `rpt score`'s proxy, eval's
models and the plugins (through `rpt.api`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError

from rpt.config import DTYPE_NAMES
from rpt.errors import RptError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def load_tokenizer(name_or_path: str) -> "PreTrainedTokenizerBase":
    """A fast tokenizer from a local folder or hub name; a clear error when it cannot be found."""
    from transformers import AutoTokenizer

    source = resolve_model_path(name_or_path, what="tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise RptError(f"cannot load tokenizer {name_or_path!r}: {str(err).splitlines()[0]}") from None
    if not tokenizer.is_fast:
        raise RptError(f"tokenizer {name_or_path!r} is not a fast tokenizer; rpt needs its offsets")
    return tokenizer


def resolve_model_path(name_or_path: str, what: str = "model") -> str:
    """A local folder as an absolute path, or a hub name (`org/name`) unchanged.

    Anything that looks like a path (starts with `.`, `/`, `~`, or has more than one `/`)
    and does not exist is an error here, before transformers tries the hub with it.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path.resolve())
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise RptError(f"{what} path does not exist: {name_or_path}")
    return name_or_path


def tokenizer_fingerprint(tokenizer: "PreTrainedTokenizerBase") -> str:
    """Identifies a tokenizer by its full serialized vocabulary and rules, not its name.

    Padding and truncation settings are left out: they do not change how text splits into tokens,
    and a batched call with `padding=True` switches them on in the tokenizer object itself.
    """
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("padding", None)
    state.pop("truncation", None)
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def check_same_tokenizer(corpus_tokenizer, model_tokenizer, model_name: str) -> None:
    """Scores are per token position, so they only line up when both sides split text the same way."""
    if tokenizer_fingerprint(corpus_tokenizer) != tokenizer_fingerprint(model_tokenizer):
        raise RptError(
            f"the tokenizer of {model_name!r} differs from the corpus tokenizer "
            f"({corpus_tokenizer.name_or_path!r}), so its token positions would not line up with the tasks'; "
            "use a model that shares the corpus's tokenizer (model.tokenizer, else the policy's)"
        )


DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}  # the config's dtype names as torch dtypes


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is bfloat16 on a GPU and float32 on CPU (where bfloat16 matmuls are slow and coarse)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise RptError(f"unknown dtype {name!r}; choose auto, {', '.join(DTYPES)}")
    return DTYPES[name]


def load_causal_lm(name_or_path: str, dtype: str = "auto", device: torch.device | None = None) -> torch.nn.Module:
    """A Hugging Face causal LM in eval mode on `device` (default: the GPU when there is one)."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    source = resolve_model_path(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=resolve_dtype(dtype, device))
    except (OSError, ValueError, SafetensorError) as err:  # SafetensorError: a truncated or damaged weights file
        raise RptError(f"cannot load model {name_or_path!r}: {str(err).splitlines()[0]}") from None
    return model.to(device).eval()




def to_dtype(name: str | None) -> torch.dtype | None:
    """A config dtype name as a torch dtype (None stays None: keep the stored dtype)."""
    if name is None:
        return None
    if name not in DTYPES:
        raise RptError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def load_scoring_lm(name_or_path: str, tokenizer, device: torch.device | None = None) -> torch.nn.Module:
    """A causal LM that scores the policy's token ids, so it must split text as `tokenizer` does."""
    check_same_tokenizer(tokenizer, load_tokenizer(name_or_path), name_or_path)
    return load_causal_lm(name_or_path, device=device)
