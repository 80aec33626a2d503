"""Valid values declared with each schema field: `num(default, ge=..)` for numeric ranges and
`one_of(default, choices)` for enumerated options. A light module (no torch), so every schema
(`rpt.config`, `rpt.sampling`, a recipe's) declares its ranges the same way; `rpt.config.validate`
checks them when a config is composed."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass(frozen=True)
class Range:
    """The valid interval of a numeric field (both ends optional, each closed or open)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


def num(default: Any = MISSING, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
        lt: float | None = None, factory: Callable[[], Any] | None = None) -> Any:
    """A numeric field (or a list or dict of numbers) whose value(s) must lie in the given range;
    None passes where the field's type allows it."""
    bound = Range(gt if gt is not None else ge, lt if lt is not None else le, gt is not None, lt is not None)
    if factory is not None:
        return field(default_factory=factory, metadata={"range": bound})
    return field(default=default, metadata={"range": bound})


def one_of(default: Any, choices: tuple[str, ...] | str) -> Any:
    """A string field limited to `choices`: a tuple, or "module:NAME" of a table (tuple or dict keys)
    in a light module, read when a config is checked (so the table can grow without a config edit)."""
    return field(default=default, metadata={"choices": choices})


def choices_of(spec: tuple[str, ...] | str) -> tuple[str, ...]:
    if isinstance(spec, tuple):
        return spec
    module, _, name = spec.partition(":")
    return tuple(getattr(importlib.import_module(module), name))
