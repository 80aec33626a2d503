"""A tiny policy that has seen the test corpus, and the overrides for short CPU training runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def pretrained_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model after a few hundred steps of next-token prediction on the test corpus,
    so that rewards are neither all 0 nor all 1 and different reward plugins disagree."""
    from tests.conftest import CORPUS
    from transformers import AutoModelForCausalLM

    from rpt.data.corpus import load_tokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    batch = tokenizer(sorted(set(CORPUS)), add_special_tokens=False, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):  # short on purpose: right about half the time, not memorised
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("pretrained")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def train_args(pretrained_dir, corpus_jsonl, tmp_path):
    """Overrides for a few-second GRPO run on the tiny model (direct template, one-token answers)."""

    def build(*extra: str, run: str = "run") -> list[str]:
        return [
            f"model.policy={pretrained_dir}",
            f"data.path={corpus_jsonl}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"run.dir={tmp_path / run}",
            "prompt.template=direct",
            "prompt.chat=false",
            "sampling.n=4",
            "sampling.max_tokens=1",
            "trainer.prompts_per_step=4",
            "trainer.max_steps=2",
            "trainer.val_every=0",
            "trainer.val_tasks=8",
            "trainer.accelerator=cpu",
            "logger.wandb.mode=disabled",
            "optim.lr=1e-2",
            *extra,
        ]

    return build
