"""A seeded synthetic corpus with easy tokens (formatting, repeated words) and hard ones (sums).

Each document is a ledger of one person adding four numbers from 1 to 3 per line:

    Ledger of Ann.
    Ann adds plums: 3 + 1 + 2 + 3 = 9.
    Ann adds pears: 2 + 2 + 1 + 3 = 8.
    Ann is done.

Formatting ("adds", "+", "=", ".") and the repeated name are easy to predict. Every random choice
(the name, the item, each operand) is one of three, so its entropy is ln 3 ≈ 1.1 nats: a model that
has learned the text is below the paper's "hard" threshold (1.5 nats) on all of them and no model
can beat 1 in 3. The sum after "=" (4 to 12, one or two tokens: the tokenizer, like Qwen2's, gives
every digit its own token) is fully determined by the line but takes arithmetic, and a model that
has not learned it spreads over about nine values (≈ 1.9 nats): the hard positions a model can
still learn are the sums. The token after any digit is fixed by what came before (" +", " =", the
sum's next digit or ".\n"), so a two-token answer is judged on its first token. Each record keeps
the character spans of its sums and operands so evaluation can report them as their own buckets.
"""

from __future__ import annotations

import numpy as np

NAMES = ("Ann", "Bob", "Cara")
ITEMS = ("apples", "pears", "plums")
OPERANDS = 4
MAX_OPERAND = 3
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
