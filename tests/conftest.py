"""Shared fixtures: a tiny tokenizer and Qwen2 model saved as a Hugging Face folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"

CORPUS = [
    "The cat sat on the mat. 12 + 7 = 19. The dog ran.",
    "Tokens cost money: 3 apples at 4 dollars is 12 dollars.",
    "Ünïcödé text, emoji 🙂 and café au lait.",
    "Numbers 100, 250, 375 sum to 725 in total.",
] * 8


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny byte-level-BPE tokenizer + randomly initialised Qwen2, saved together."""
    from rpt.demo.tiny import tiny_qwen2, train_tokenizer

    path = tmp_path_factory.mktemp("tiny_model")
    tokenizer = train_tokenizer(CORPUS, vocab_size=300)
    tokenizer.save_pretrained(path)
    tiny_qwen2(len(tokenizer)).save_pretrained(path)
    return path


@pytest.fixture
def corpus_jsonl(tmp_path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in CORPUS), encoding="utf-8")
    return path
