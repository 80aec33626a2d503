"""A seeded synthetic corpus with easy tokens (formatting, repeated words) and hard ones (sums).

Each document is a ledger of one person adding three one-digit numbers per line:

    Ledger of Ann.
    Ann adds plums: 3 + 4 + 5 = 12.
    Ann adds coins: 7 + 1 + 2 = 10.
    Ann is done.

Formatting ("adds", "+", "=", ".") and the repeated name are easy to predict; the operands are
uniformly random (no model can beat 1 in 9 on them); the sum after "=" is fully determined by the
line but takes arithmetic: the hard, learnable tokens (one or two of them: the tokenizer, like
Qwen2's, gives every digit its own token). The token after any digit is fixed by what came before
(" +", " =", the sum's next digit or ".\n"), so a two-token answer is judged on its first token,
not on a random item name. Each record keeps the character spans of its sums so evaluation can
report them as their own bucket.
"""

from __future__ import annotations

import numpy as np

NAMES = ("Ann", "Bob", "Cara", "Dan", "Eve", "Finn", "Gus", "Hana")
ITEMS = ("apples", "pears", "plums", "coins", "books", "stamps")
OPERANDS = 3
MAX_OPERAND = 9
LINES_PER_DOC = (6, 10)  # inclusive range


def ledger(rng: np.random.Generator) -> dict:
    """One document: {"text": ..., "sum_spans": [[start, end], ...], "operand_spans": [...]} (character spans)."""
    name = NAMES[rng.integers(len(NAMES))]
    text = f"Ledger of {name}.\n"
    spans: dict[str, list[list[int]]] = {"sum_spans": [], "operand_spans": []}

    def add(kind: str, value: int) -> None:
        nonlocal text
        spans[kind].append([len(text), len(text) + len(str(value))])
        text += str(value)

    for _ in range(rng.integers(LINES_PER_DOC[0], LINES_PER_DOC[1] + 1)):
        operands = [int(x) for x in rng.integers(1, MAX_OPERAND + 1, size=OPERANDS)]
        text += f"{name} adds {ITEMS[rng.integers(len(ITEMS))]}: "
        for i, value in enumerate(operands):
            text += " + " if i else ""
            add("operand_spans", value)
        text += " = "
        add("sum_spans", sum(operands))
        text += ".\n"
    text += f"{name} is done."
    return {"text": text, **spans}


def generate_corpus(n_docs: int, seed: int) -> list[dict]:
    """`n_docs` ledgers; the same seed gives the same corpus."""
    rng = np.random.default_rng(seed)
    return [ledger(rng) for _ in range(n_docs)]


def span_token_mask(char_ends: np.ndarray, spans: list[list[int]]) -> np.ndarray:
    """Which tokens of a document overlap one of the character spans (token i spans [ends[i-1], ends[i]))."""
    starts = np.concatenate([[0], char_ends[:-1]])
    mask = np.zeros(len(char_ends), dtype=bool)
    for lo, hi in spans:
        mask |= (starts < hi) & (char_ends > lo)
    return mask
