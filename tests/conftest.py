"""Shared fixtures: a tiny tokenizer and Qwen2 model saved as a Hugging Face folder, a jsonl corpus (built by tests/fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import CORPUS, save_tiny_model, write_corpus


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny byte-level-BPE tokenizer + randomly initialised Qwen2, saved together."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"), CORPUS)


@pytest.fixture
def corpus_jsonl(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus.jsonl")
