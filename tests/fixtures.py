"""What tests build their inputs from: a small corpus, tiny tokenizers and Qwen2 models saved as Hugging
Face folders, a short pre-training, jsonl corpora. (pytest fixtures over these are in conftest.py.)"""

from __future__ import annotations

from pathlib import Path

from rpt.files import write_jsonl
from rpt.recipes.demo.tiny import tiny_qwen2, train_tokenizer

__all__ = ["CORPUS", "GSM8K", "pretrain_on_corpus", "save_tiny_model", "tiny_qwen2", "train_tokenizer", "write_corpus"]


GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"


CORPUS = [
    "The cat sat on the mat. 12 + 7 = 19. The dog ran.",
    "Tokens cost money: 3 apples at 4 dollars is 12 dollars.",
    "Ünïcödé text, emoji 🙂 and café au lait.",
    "Numbers 100, 250, 375 sum to 725 in total.",
] * 8


def save_tiny_model(path: Path, texts: list[str], **model_options) -> Path:
    """A byte-level-BPE tokenizer trained on `texts` and a randomly initialised Qwen2, saved together."""
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


def write_corpus(path: Path, texts: list[str] = CORPUS) -> Path:
    """`texts` as a jsonl corpus, one `{"text": ...}` document per line."""
    write_jsonl([{"text": t} for t in texts], path)
    return path
