"""Reward for question-answer tasks: the final answer equals the reference, as a number or a formula.

Parsing and comparison are `math-verify`'s (Hugging Face's LaTeX/sympy answer checker), so
`0.5`, `\\frac{1}{2}` and `1/2` are one value, and `72.0` equals `72`. Before that, one rule
normalises what both sides may carry around the value (see `normalise`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import torch

from rpt.api import Reward, RewardResult, check_option

#: A thousands separator: a comma (or LaTeX's `{,}`) between a digit and exactly three digits.
_THOUSANDS = re.compile(r"(?<=\d)(?:,|\{,\})(?=\d{3}(?!\d))")
#: Currency and percent signs, LaTeX spacing commands and `\left` / `\right`.
_DECORATION = re.compile(r"\\?\$|\\?%|\\[,;:! ]|\\(?:left|right)\b")
#: A trailing unit after a number: `\text{...}` / `\mathrm{...}` / `\mbox{...}`, or plain words.
_UNIT = re.compile(r"(?<=[\d.}])\s*(?:\\(?:text|mathrm|mbox)\{[A-Za-z .]*\}|[A-Za-z]+\.?(?:\s+[A-Za-z]+\.?)*)\s*$")


def normalise(text: str) -> str:
    """The answer's value as math text: the one rule applied to answers and references alike.

    - thousands separators go: `1,000` and `1{,}000` are 1000 (a comma not followed by exactly
      three digits stays, so `1,2` is still a list of two values);
    - `$`, `\\$`, `%`, `\\%`, LaTeX spacing (`\\,` `\\;` `\\!`) and `\\left`/`\\right` go: `\\$18`,
      `18%` and `18` are the same answer (a percentage is compared as its number, not divided by 100);
    - one trailing unit after a number goes: `18 dollars`, `18\\text{ eggs}`, `5\\mathrm{cm}` are 18, 18, 5
      (units are not converted: `500 g` does not equal `0.5 kg`);
    - surrounding whitespace goes.
    Fractions need nothing here: `3/4`, `\\frac{3}{4}`, `\\frac34`, `0.75` are compared as values.
    """
    text = _THOUSANDS.sub("", text)
    text = _DECORATION.sub("", text)
    return _UNIT.sub("", text.strip()).strip()


class MathAnswer(Reward):
    """1 iff the final answer equals the task's reference answer as a number or expression, else 0.

    The answer is what the prompt template extracted (the last `\\boxed{}` for `reasoning`), or,
    with `marker` set (e.g. "####" or "The answer is"), the text after the last `marker` in it (use
    `prompt.template=direct`, which passes the whole response). Both sides are `normalise`d, then
    parsed and compared by math-verify (numbers to `float_rounding` decimals; fractions, decimals and
    equivalent expressions are equal); a task with several accepted answers (`references`) scores 1
    when any matches. A format error, a missing marker, an empty or unparsable
    answer scores 0; nothing raises. Tasks must carry a `reference` (QA tasks, `data.kind=qa`).
    """

    def __init__(self, marker: str | None = None, float_rounding: int = 6, timeout_seconds: int = 5) -> None:
        check_option("marker", marker, marker != "", "a non-empty string, or null for the template's answer")
        self.marker = marker
        self.float_rounding = float_rounding
        self.timeout_seconds = timeout_seconds

    def __call__(self, answers: Sequence[str | None], tasks: Sequence[Any], group_size: int) -> RewardResult:
        parsed: dict[str, list] = {}  # a group shares its references: parse each once
        hits = []
        for answer, task in zip(answers, tasks, strict=True):
            for reference in _references(task):
                if reference not in parsed:
                    parsed[reference] = self._parse(reference)
            hits.append(max(self.score(answer, parsed[r]) for r in _references(task)))
        return RewardResult(torch.tensor(hits, dtype=torch.float32))

    def final_answer(self, answer: str | None) -> str | None:
        """The text to compare: the template's answer, or what follows the last `marker` in it."""
        if answer is None or self.marker is None:
            return answer
        before, found, after = answer.rpartition(self.marker)
        return after if found else None

    def score(self, answer: str | None, reference: list) -> float:
        """1.0 when the final answer parses and equals the parsed reference, else 0.0."""
        final = self.final_answer(answer)
        if final is None or not reference:
            return 0.0
        parsed = self._parse(final)
        if not parsed:
            return 0.0
        from math_verify import verify

        try:
            return float(bool(verify(reference, parsed, float_rounding=self.float_rounding,
                                     timeout_seconds=self._timeout())))
        except Exception:  # sympy can fail in many ways on odd input; a reward never raises
            return 0.0

    def _parse(self, text: str) -> list:
        """math-verify's parse of the normalised text as LaTeX math, or [] when it is not math."""
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

        value = normalise(text)
        if not value:
            return []
        try:
            return parse(f"${value}$", extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
                         parsing_timeout=self._timeout())
        except Exception:  # as in score: odd input must not stop training
            return []


    def _timeout(self) -> int | None:
        """math-verify times out with SIGALRM, which only the main thread may set: elsewhere, no limit
        (rather than every answer failing to parse and silently scoring 0)."""
        return self.timeout_seconds if threading.current_thread() is threading.main_thread() else None


def _references(task: Any) -> tuple[str, ...]:
    """The task's accepted answers: `references` (QA tasks), or a single `reference`."""
    references = getattr(task, "references", None) or (getattr(task, "reference", None),)
    if not all(isinstance(r, str) for r in references):
        raise ValueError("math_answer scores question-answer tasks (data.kind=qa): this task has no reference answer")
    return tuple(references)
