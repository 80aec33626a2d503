"""The demo's outputs: the before/after table, the training-curve plot and `report.md`."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rpt.eval.buckets import accuracy_with_ci, paired_difference, wilson_ci


@dataclass
class Curves:
    """Per-step series from a run's metrics.csv (Lightning writes sparse rows: one metric family per row)."""

    train_steps: np.ndarray
    reward: np.ndarray  # mean reward of the step's samples
    entropy: np.ndarray  # the policy's mean entropy over its sampled answer tokens (nats)
    val_steps: np.ndarray
    val_ntp_acc: np.ndarray  # greedy next-token accuracy on the held-out positions the filter keeps


def read_curves(metrics_csv: Path) -> Curves:
    train: dict[int, tuple[float, float]] = {}
    val: dict[int, float] = {}
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row["step"]))
            if row.get("train/reward"):
                train[step] = (float(row["train/reward"]), float(row.get("train/entropy") or "nan"))
            if row.get("val/ntp_acc"):
                val[step] = float(row["val/ntp_acc"])
    reward, entropy = (np.asarray([v[i] for v in train.values()]) for i in (0, 1))
    return Curves(np.asarray(list(train)), reward, entropy, np.asarray(list(val)), np.asarray(list(val.values())))


def add_bucket(result: dict[str, Any], name: str, mask: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
    """Add a bucket chosen by `mask` (not by entropy) to an `eval_result` comparing two models."""
    first, second = result["models"]
    result["models"][first]["buckets"][name] = accuracy_with_ci(before[mask]).to_json()
    result["models"][second]["buckets"][name] = accuracy_with_ci(after[mask]).to_json()
    diff = paired_difference(before[mask], after[mask], np.zeros(int(mask.sum())), {})["all"]
    result["comparison"]["buckets"][name] = diff.to_json()


def plot_curves(curves: Curves, pretrain_loss: list[float], hard_threshold: float, val_tasks: int, path: Path) -> None:
    """Four panels: pre-training loss; RPT reward, policy entropy and held-out hard-position accuracy by step.

    The accuracy carries 95% Wilson intervals for its `val_tasks` positions, on an axis from 0, so
    sampling noise is not mistaken for a trend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (ax_loss, ax_reward), (ax_entropy, ax_acc) = axes
    ax_loss.plot(np.arange(1, len(pretrain_loss) + 1), pretrain_loss, color="tab:gray", lw=1)
    ax_loss.set(title="1. Next-token pre-training", xlabel="pre-training step", ylabel="cross-entropy (nats/token)")

    _per_step(ax_reward, curves.train_steps, curves.reward, "tab:blue")
    ax_reward.set(title="2. RPT: reward of sampled answers", xlabel="RPT step", ylabel="mean reward (train prompts)")
    ax_reward.set_ylim(bottom=0)

    _per_step(ax_entropy, curves.train_steps, curves.entropy, "tab:purple")
    ax_entropy.set(title="3. RPT: policy entropy of sampled answers", xlabel="RPT step", ylabel="nats per answer token")
    ax_entropy.set_ylim(bottom=0)

    intervals = np.asarray([wilson_ci(int(round(acc * val_tasks)), val_tasks) for acc in curves.val_ntp_acc]).reshape(-1, 2)
    errors = np.abs(100 * intervals.T - 100 * curves.val_ntp_acc)
    ax_acc.errorbar(curves.val_steps, 100 * curves.val_ntp_acc, yerr=errors, color="tab:red", marker="o", lw=2, capsize=4)
    ax_acc.set(
        title=f"4. Held-out greedy accuracy, hard positions (H > {hard_threshold:g})",
        xlabel="RPT step",
        ylabel=f"next-token accuracy (%), 95% CI, n = {val_tasks}",
    )
    ax_acc.set_ylim(0, max(10.0, 1.2 * 100 * float(intervals.max(initial=0.0))))
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def _per_step(ax, steps: np.ndarray, values: np.ndarray, color: str) -> None:
    """A noisy per-step series, faint, with its moving average over a tenth of the run on top."""
    ax.plot(steps, values, color=color, alpha=0.3, lw=1, label="per step")
    window = max(1, len(values) // 10)
    if len(values) >= window > 1:
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color=color, lw=2, label=f"mean of {window} steps")
    ax.legend(loc="lower right")


def format_demo_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per bucket: the three models' accuracies and the three paired changes, with 95% intervals."""
    from rpt.eval.tables import bucket_name, markdown, percent

    rpt, ntp, rpt_vs_ntp = results["rpt"], results["ntp"], results["rpt_vs_ntp"]
    start, after_rpt = rpt["models"]
    after_ntp = ntp["comparison"]["second"]
    header = ["bucket", "n", "start", "after RPT", "after NTP (same compute)", "RPT − start", "NTP − start", "RPT − NTP"]
    rows = []
    for bucket, first in rpt["models"][start]["buckets"].items():
        changes = [r["comparison"]["buckets"][bucket] for r in (rpt, ntp, rpt_vs_ntp)]
        rows.append([
            bucket_name(bucket, rpt["thresholds"]), str(first["n"]), percent(first),
            percent(rpt["models"][after_rpt]["buckets"][bucket]), percent(ntp["models"][after_ntp]["buckets"][bucket]),
            *(percent({"accuracy": c["difference"], "ci95": c["ci95"]}, signed=True) for c in changes),
        ])
    return markdown(header, rows)


def format_timings(timings: dict[str, tuple[float, float]]) -> str:
    """A markdown table of (wall, cpu) seconds per phase, with totals."""
    lines = ["| phase | wall s | CPU s |", "|---|---:|---:|"]
    lines += [f"| {phase} | {wall:.1f} | {cpu:.1f} |" for phase, (wall, cpu) in timings.items()]
    total_wall, total_cpu = (sum(t[i] for t in timings.values()) for i in (0, 1))
    lines.append(f"| **total** | **{total_wall:.1f}** | **{total_cpu:.1f}** |")
    return "\n".join(lines)


def format_facts(facts: dict[str, Any]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in facts.items())


def headline(result: dict[str, Any], bucket: str) -> str:
    """One sentence on the paired change in `bucket`, saying whether its 95% interval excludes zero."""
    diff = result["comparison"]["buckets"].get(bucket)
    if not diff or diff["difference"] is None or math.isnan(diff["difference"]):
        return f"no positions in the {bucket} bucket"
    change, (low, high) = 100 * diff["difference"], diff["ci95"]
    verdict = "an increase" if low > 0 else "a decrease" if high < 0 else "not distinguishable from no change"
    return (
        f"{bucket}: {change:+.1f} points (95% CI [{100 * low:+.1f}, {100 * high:+.1f}], "
        f"n = {diff['n']} paired positions): {verdict}"
    )
