"""Expand `rpt ablate` overrides into cells: every comma list is a grid axis (Hydra's sweep syntax)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from rpt.errors import RptError

BASELINES = ("ntp",)
NTP = "baseline=ntp"  # the baseline cell's name


@dataclass(frozen=True)
class Cell:
    """One grid point (its axis overrides) at one seed; `kind` is `rpt` or `ntp`."""

    axes: tuple[str, ...]
    seed: int
    kind: str = "rpt"

    @property
    def name(self) -> str:
        """The row name shared by the seeds of a grid point: `reward=first_token filter=random`."""
        return NTP if self.kind == "ntp" else (" ".join(self.axes) or "base")

    @property
    def dir_name(self) -> str:
        """A folder name for the row (no spaces or slashes)."""
        return "".join(c if c.isalnum() or c in "=.,+-_" else "_" for c in self.name.replace(" ", "+"))


@dataclass(frozen=True)
class AblationSpec:
    """What `rpt ablate` was asked: shared overrides, the axes, seeds and the baseline."""

    base: tuple[str, ...]  # overrides every cell gets
    axes: tuple[tuple[str, ...], ...]  # per axis, its `key=value` overrides
    seeds: int = 1
    baseline: str | None = None

    @property
    def cells(self) -> list[Cell]:
        return expand(self)

    def to_json(self) -> dict:
        return {"base": list(self.base), "axes": [list(a) for a in self.axes], "seeds": self.seeds,
                "baseline": self.baseline}


def parse_ablation(overrides: list[str]) -> AblationSpec:
    """Split `seeds=N` and `baseline=ntp` off, then every comma-list override becomes an axis."""
    base: list[str] = []
    axes: list[tuple[str, ...]] = []
    rest: list[str] = []
    seeds, baseline = 1, None
    for item in overrides:
        key, _, value = item.partition("=")
        if key == "seeds":
            if not value.isdigit() or int(value) < 1:
                raise RptError(f"seeds must be a whole number >= 1, got {value!r}")
            seeds = int(value)
        elif key == "baseline":
            if value not in BASELINES:
                raise RptError(f"unknown baseline {value!r}; available: {', '.join(BASELINES)}")
            baseline = value
        else:
            rest.append(item)
    try:
        parsed = OverridesParser.create().parse_overrides(rest)
    except HydraException as err:
        raise RptError(f"bad override: {' '.join(str(err).split())}") from None
    for override in parsed:
        if override.is_sweep_override():
            key = override.get_key_element()
            values = list(override.sweep_string_iterator())
            if len(set(values)) != len(values):
                raise RptError(f"axis {key} lists a value twice: {','.join(values)}")
            axes.append(tuple(f"{key}={value}" for value in values))
        else:
            base.append(override.input_line)
    return AblationSpec(tuple(base), tuple(axes), seeds, baseline)


def expand(spec: AblationSpec) -> list[Cell]:
    """Every combination of axis values (the first axis varies slowest), each at every seed; the
    baseline's seeds last, since its compute budget is the RPT cells' measured compute."""
    cells = [Cell(tuple(point), seed) for point in itertools.product(*spec.axes) for seed in range(spec.seeds)]
    if spec.baseline:
        cells += [Cell((), seed, spec.baseline) for seed in range(spec.seeds)]
    return cells
