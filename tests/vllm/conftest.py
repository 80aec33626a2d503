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
def make_context(vllm_model_dir, request):
    """A plugin context holding a fresh float32 copy of the policy, as the trainer would; the
    randomly initialised model, or with `pretrained=True` the one that has seen the corpus."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def make(policy: bool = True, pretrained: bool = False) -> PluginContext:
        path = request.getfixturevalue("vllm_pretrained_dir") if pretrained else vllm_model_dir
        cfg = load_config([f"model.policy={path}", "rollout=vllm"])
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval() if policy else None
        return PluginContext(tokenizer=AutoTokenizer.from_pretrained(path), policy=model, config=cfg)

    return make


@pytest.fixture(scope="session")
def vllm_pretrained_dir(vllm_model_dir, tmp_path_factory) -> Path:
    """The vLLM-compatible tiny model after a little next-token training on the test corpus, so that
    GRPO rewards vary within groups (as tests/train's `pretrained_dir`, with 2 attention heads)."""
    from transformers import AutoModelForCausalLM

    from rpt.data.corpus import load_tokenizer
    from tests.conftest import CORPUS

    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(vllm_model_dir))
    model = AutoModelForCausalLM.from_pretrained(vllm_model_dir)
    batch = tokenizer(sorted(set(CORPUS)), add_special_tokens=False, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(30):  # short: the policy stays uncertain, so samples of one task differ
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("vllm_pretrained")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
