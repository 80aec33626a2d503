"""A tiny policy that has seen the test corpus, and the overrides for short CPU training runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.fixtures import pretrain_on_corpus


@pytest.fixture(scope="session")
def pretrained_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model after a little next-token training on the test corpus, so that rewards are
    neither all 0 nor all 1 and different reward plugins disagree."""
    torch.set_num_threads(1)
    return pretrain_on_corpus(tiny_model_dir, tmp_path_factory.mktemp("pretrained"), steps=60)


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
