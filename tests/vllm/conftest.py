"""A tiny Qwen2 whose attention head size vLLM's CPU kernels support, and a config pointing at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rpt.api import PluginContext
from rpt.config import load_config
from rpt.registry import plugin_context
from tests.fixtures import pretrain_on_corpus, save_tiny_model

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
    return save_tiny_model(tmp_path_factory.mktemp("vllm_model"), TEXTS, hidden_size=64, heads=2)


@pytest.fixture
def make_context(vllm_model_dir, request):
    """A plugin context holding a fresh float32 copy of the policy, as the trainer would; the
    randomly initialised model, or with `pretrained=True` the one that has seen the corpus."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def make(policy: bool = True, pretrained: bool = False) -> PluginContext:
        path = request.getfixturevalue("vllm_pretrained_dir") if pretrained else vllm_model_dir
        cfg = load_config([f"model.policy={path}", "rollout=vllm"])
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval() if policy else None
        return plugin_context(cfg, AutoTokenizer.from_pretrained(path), policy=model)

    return make


@pytest.fixture(scope="session")
def vllm_pretrained_dir(vllm_model_dir, tmp_path_factory) -> Path:
    """The vLLM-compatible tiny model after a little next-token training on the test corpus, so that
    GRPO rewards vary within groups (as tests/train's `pretrained_dir`, with 2 attention heads)."""
    return pretrain_on_corpus(vllm_model_dir, tmp_path_factory.mktemp("vllm_pretrained"), steps=30)
