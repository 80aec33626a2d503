"""Shared fixtures: a tiny tokenizer and Qwen2 model saved as a Hugging Face folder."""

from __future__ import annotations

from pathlib import Path

import pytest

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"

CORPUS = [
    "The cat sat on the mat. 12 + 7 = 19. The dog ran.",
    "Tokens cost money: 3 apples at 4 dollars is 12 dollars.",
    "Ünïcödé text, emoji 🙂 and café au lait.",
    "Numbers 100, 250, 375 sum to 725 in total.",
] * 8


def save_tiny_model(path: Path, texts: list[str], **model_options) -> Path:
    """A byte-level-BPE tokenizer trained on `texts` and a randomly initialised Qwen2, saved together."""
    from rpt.demo.tiny import tiny_qwen2, train_tokenizer

    tokenizer = train_tokenizer(texts, vocab_size=300)
    tokenizer.save_pretrained(path)
    tiny_qwen2(len(tokenizer), **model_options).save_pretrained(path)
    return path


def pretrain_on_corpus(model_dir: Path, path: Path, steps: int) -> Path:
    """`model_dir` after `steps` full-batch next-token steps on CORPUS, saved to `path`: short
    runs leave it right about half the time, so rewards and accuracies are neither all 0 nor all 1."""
    import torch
    from transformers import AutoModelForCausalLM

    from rpt.models import load_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    batch = tokenizer(sorted(set(CORPUS)), add_special_tokens=False, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny byte-level-BPE tokenizer + randomly initialised Qwen2, saved together."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"), CORPUS)


def write_corpus(path: Path, texts: list[str] = CORPUS) -> Path:
    """`texts` as a jsonl corpus, one `{"text": ...}` document per line."""
    from rpt.demo.corpus import write_jsonl

    write_jsonl([{"text": t} for t in texts], path)
    return path


@pytest.fixture
def corpus_jsonl(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus.jsonl")
