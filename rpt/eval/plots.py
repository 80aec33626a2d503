"""PNG plots for `rpt report` (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from rpt.eval.scaling import PowerLawFit  # noqa: E402


def grouped_bars(groups: list[str], series: dict[str, list[float]], path: Path, ylabel: str, title: str,
                 errors: dict[str, list[tuple[float, float]]] | None = None) -> Path:
    """Bars per group (x) for each series (colour), with optional [low, high] error bars; None values are skipped."""
    fig, ax = plt.subplots(figsize=(min(16.0, max(5.0, 1.3 * len(groups) * max(1, len(series)))), 3.6))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        heights = np.array([np.nan if v is None else 100 * v for v in values], dtype=float)
        yerr = None
        if errors and name in errors:
            low = [np.nan if lo is None else 100 * lo for lo, _ in errors[name]]
            high = [np.nan if hi is None else 100 * hi for _, hi in errors[name]]
            yerr = np.abs(np.array([heights - np.array(low), np.array(high) - heights]))
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, yerr=yerr, capsize=3, label=name)
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize="small")
    return _save(fig, path)


def line_plot(series: dict[str, tuple[list[float], list[float]]], path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """One line per named (x, y) series."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if series:
        ax.legend(fontsize="small")
    return _save(fig, path)


def plot_buckets(result: dict[str, Any], path: Path) -> Path:
    """Accuracy per difficulty bucket and model, with 95% intervals (from an eval.json)."""
    buckets = list(next(iter(result["models"].values()))["buckets"])
    series = {m: [r["buckets"][b]["accuracy"] for b in buckets] for m, r in result["models"].items()}
    errors = {m: [tuple(r["buckets"][b]["ci95"]) for b in buckets] for m, r in result["models"].items()}
    return grouped_bars(buckets, series, path, "next-token accuracy (%)", f"{result['mode']} accuracy by difficulty", errors)


def plot_patterns(patterns: dict[str, Any], path: Path) -> Path:
    """Share of each reasoning pattern among all markers, per model."""
    names = list(next(iter(patterns["models"].values()))["responses_with"])
    series = {m: [s["responses_with"][p] for p in names] for m, s in patterns["models"].items()}
    return grouped_bars([n.replace("_", " ") for n in names], series, path, "responses showing it (%)", "reasoning patterns")


def plot_scaling(points: dict[str, tuple[list[float], list[float]]], fits: dict[str, PowerLawFit], path: Path) -> Path:
    """Accuracy against training FLOPs per bucket: measured points and the fitted power law."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for bucket, (compute, accuracy) in points.items():
        line = ax.plot(compute, 100 * np.asarray(accuracy, dtype=float), "o", label=bucket)[0]
        if bucket in fits:
            grid = np.geomspace(min(compute), max(compute), 200)
            fit = fits[bucket]
            ax.plot(grid, 100 * fit.predict(grid), "-", color=line.get_color(),
                    label=f"{bucket} fit: {100 * fit.p_star:.1f} − A·C^−{fit.alpha:.3f} (R² {fit.r2:.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("next-token accuracy (%)")
    ax.set_title("accuracy vs training compute")
    ax.legend(fontsize="small")
    return _save(fig, path)


def _save(fig: "plt.Figure", path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
