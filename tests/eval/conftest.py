"""A tiny model trained for a few steps on the test corpus, so its greedy accuracy is neither 0 nor 1."""

from pathlib import Path

import pytest
import torch

from tests.conftest import CORPUS


@pytest.fixture(scope="session")
def trained_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.as_tensor(tokenizer(" ".join(CORPUS[:4]))["input_ids"])[None]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(15):
        model(ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    path = tmp_path_factory.mktemp("trained_model")
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)
    return path
