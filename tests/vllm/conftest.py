"""A tiny Qwen2 whose attention head size vLLM's CPU kernels support, and a config pointing at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rpt.api import PluginContext
from rpt.config import load_config

os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
torch.set_num_threads(2)

TEXTS = [
    "The cat sat on the mat. 12 + 7 = 19. The dog ran.",
    "Tokens cost money: 3 apples at 4 dollars is 12 dollars.",
    "Numbers 100, 250, 375 sum to 725 in total.",
] * 8


@pytest.fixture(scope="session")
def vllm_model_dir(tmp_path_factory) -> Path:
    """Hidden size 64 with 2 heads: head size 32 (vLLM's CPU attention has no kernel for 16)."""
    from rpt.demo.tiny import tiny_qwen2, train_tokenizer

    path = tmp_path_factory.mktemp("vllm_model")
    tokenizer = train_tokenizer(TEXTS, vocab_size=300)
    tokenizer.save_pretrained(path)
    tiny_qwen2(len(tokenizer), hidden_size=64, heads=2).save_pretrained(path)
    return path


@pytest.fixture
def make_context(vllm_model_dir):
    """A plugin context holding a fresh float32 copy of the policy, as the trainer would."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def make(policy: bool = True) -> PluginContext:
        cfg = load_config([f"model.policy={vllm_model_dir}", "rollout=vllm"])
        model = AutoModelForCausalLM.from_pretrained(vllm_model_dir, dtype=torch.float32).eval() if policy else None
        return PluginContext(tokenizer=AutoTokenizer.from_pretrained(vllm_model_dir), policy=model, config=cfg)

    return make
