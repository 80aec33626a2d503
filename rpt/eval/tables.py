"""Markdown tables of eval results, shared by `rpt eval`'s printout and `rpt report`."""

from __future__ import annotations

import math
from typing import Any


def format_eval_table(result: dict[str, Any]) -> str:
    """One row per bucket: n, accuracy [95% CI] per model, and the paired difference when two."""
    labels = list(result["models"])
    header = ["bucket", "n", *labels]
    comparison = result.get("comparison")
    if comparison:
        header.append(f"{comparison['second']} − {comparison['first']}")
    rows = []
    for bucket, first in result["models"][labels[0]]["buckets"].items():
        cells = [bucket_name(bucket, result["thresholds"]), str(first["n"])]
        cells += [percent(result["models"][m]["buckets"][bucket]) for m in labels]
        if comparison:
            diff = comparison["buckets"][bucket]
            cells.append(percent({"accuracy": diff["difference"], "ci95": diff["ci95"]}, signed=True))
        rows.append(cells)
    return markdown(header, rows)


def format_templates_table(result: dict[str, Any]) -> str:
    """One row per prompt template: Random@1 and Pass@k of the model, per bucket."""
    k = result["samples"]
    buckets = list(next(iter(result["templates"].values()))["random@1"])
    header = ["template"] + [f"{name} @ {bucket_name(b, result['thresholds'])}"
                             for b in buckets for name in ("Random@1", f"Pass@{k}")]
    rows = [[template] + [percent(scores[metric][b]) for b in buckets for metric in ("random@1", "pass@k")]
            for template, scores in result["templates"].items()]
    return markdown(header, rows)


def format_patterns_table(patterns: dict[str, Any]) -> str:
    """One row per pattern: the share of each model's responses that show it, and the relative change of two."""
    models = list(patterns["models"])
    change = patterns.get("relative_change")
    header = ["pattern", *(f"{m} responses" for m in models)] + (["relative change"] if change else [])
    rows = []
    for pattern in patterns["models"][models[0]]["responses_with"]:
        cells = [pattern] + [percent({"accuracy": patterns["models"][m]["responses_with"][pattern]}) for m in models]
        if change:
            cells.append(percent({"accuracy": change[pattern]}, signed=True))
        rows.append(cells)
    return markdown(header, rows)


def buckets_source(result: dict[str, Any]) -> str:
    """Which model's entropy defined the buckets of an eval.json / templates.json (every output states it)."""
    difficulty = result.get("difficulty") or {}
    if not difficulty:
        return "Buckets: no difficulty scores (all positions only)."
    return f"Buckets: top-{difficulty['top_k']} entropy of `{difficulty['model']}` (scores `{difficulty['scores']}`)."


def bucket_name(bucket: str, thresholds: dict[str, float]) -> str:
    threshold = thresholds.get(bucket)
    return bucket if threshold is None else f"{bucket} (H > {threshold:g})"


def percent(entry: dict[str, Any], signed: bool = False) -> str:
    """`42.0% [38.1, 45.9]`; a dash for a missing value (NaN in memory, null in JSON)."""
    value = entry["accuracy"]
    if missing(value):
        return "–"
    sign = "+" if signed else ""
    low, high = entry.get("ci95", (None, None))
    interval = "" if missing(low) else f" [{100 * low:{sign}.1f}, {100 * high:{sign}.1f}]"
    return f"{100 * value:{sign}.1f}%{interval}"


def missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
