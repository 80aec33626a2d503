"""Reasoning-pattern statistics: how often responses show each pattern's keyword markers.

The paper compares the reasoning of the base model and the RPT model by six patterns
(transition, reflection, breakdown, hypothesis, divergent thinking, deduction), as "the proportion
of model responses containing reasoning-indicative keywords" (section 4.5), and reports the
relative change of that proportion between the two models ("161.8% greater use of the hypothesis
pattern"). Markers are counted per response with the keyword lists of a config file: the paper's
(`configs/patterns/paper.yaml`, Appendix E Table 9; the default) or another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rpt.config import CONFIG_DIR
from rpt.errors import RptError


def load_pattern_keywords(name_or_path: str) -> dict[str, list[str]]:
    """Pattern -> keywords, from `configs/patterns/<name>.yaml` or a YAML file path."""
    path = Path(name_or_path).expanduser()
    if not path.suffix:
        path = CONFIG_DIR / "patterns" / f"{name_or_path}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in (CONFIG_DIR / "patterns").glob("*.yaml"))
        raise RptError(f"no pattern keyword file {name_or_path!r}; shipped: {', '.join(options)}, or give a .yaml path")
    keywords = OmegaConf.to_container(OmegaConf.load(path))
    if not isinstance(keywords, dict) or not keywords or not all(
        isinstance(words, list) and words and all(isinstance(w, str) and w.strip() for w in words)
        for words in keywords.values()
    ):
        raise RptError(f"{path}: expected a mapping of pattern name -> non-empty list of keywords")
    return {str(name): [w.strip() for w in words] for name, words in keywords.items()}


def count_patterns(responses: Sequence[str], keywords: dict[str, list[str]]) -> np.ndarray:
    """Marker counts [responses, patterns]: whole-word, case-insensitive occurrences of any keyword."""
    matchers = [_matcher(words) for words in keywords.values()]
    return np.asarray([[len(m.findall(text)) for m in matchers] for text in responses], dtype=np.int64).reshape(
        len(responses), len(keywords)
    )


@dataclass(frozen=True)
class PatternStats:
    n_responses: int
    counts: dict[str, int]  # markers over all responses
    share: dict[str, float]  # of all markers found, the share of each pattern
    responses_with: dict[str, float]  # share of responses with at least one marker of the pattern (the paper's measure)

    def to_json(self) -> dict:
        return {"n_responses": self.n_responses, "counts": self.counts, "share": self.share,
                "responses_with": self.responses_with}


def pattern_stats(responses: Sequence[str], keywords: dict[str, list[str]]) -> PatternStats:
    counts = count_patterns(responses, keywords)
    totals = counts.sum(axis=0)
    markers = totals.sum()
    names = list(keywords)
    return PatternStats(
        n_responses=len(responses),
        counts={n: int(t) for n, t in zip(names, totals)},
        share={n: float(t / markers) if markers else math.nan for n, t in zip(names, totals)},
        responses_with={n: float((counts[:, i] > 0).mean()) if len(responses) else math.nan for i, n in enumerate(names)},
    )


def relative_change(before: PatternStats, after: PatternStats) -> dict[str, float]:
    """(after − before) / before of each pattern's share of responses showing it (NaN where `before` has none).

    The paper's comparison (section 4.5): RPT-14B shows the hypothesis pattern in 161.8% more responses.
    """
    return {
        name: (after.responses_with[name] - share) / share if share else math.nan
        for name, share in before.responses_with.items()
    }


def _matcher(words: list[str]) -> re.Pattern:
    # Longest first, so "let me check" wins over a shorter keyword it contains; spaces match any whitespace.
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
