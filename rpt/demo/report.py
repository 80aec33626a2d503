"""The demo's outputs: the before/after table, the training-curve plot and `report.md`."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rpt.eval.buckets import accuracy_with_ci, paired_difference


@dataclass
class Curves:
    """Per-step series from a run's metrics.csv (Lightning writes sparse rows: one metric family per row)."""

    reward_steps: np.ndarray
    reward: np.ndarray  # mean reward of the step's samples
    val_steps: np.ndarray
    val_ntp_acc: np.ndarray  # greedy next-token accuracy on the held-out positions the filter keeps


def read_curves(metrics_csv: Path) -> Curves:
    reward: dict[int, float] = {}
    val: dict[int, float] = {}
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row["step"]))
            if row.get("train/reward"):
                reward[step] = float(row["train/reward"])
            if row.get("val/ntp_acc"):
                val[step] = float(row["val/ntp_acc"])
    return Curves(
        np.asarray(list(reward)), np.asarray(list(reward.values())), np.asarray(list(val)), np.asarray(list(val.values()))
    )


def add_bucket(result: dict[str, Any], name: str, mask: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
    """Add a bucket chosen by `mask` (not by entropy) to an `eval_result` comparing two models."""
    first, second = result["models"]
    result["models"][first]["buckets"][name] = accuracy_with_ci(before[mask]).to_json()
    result["models"][second]["buckets"][name] = accuracy_with_ci(after[mask]).to_json()
    diff = paired_difference(before[mask], after[mask], np.zeros(int(mask.sum())), {})["all"]
    result["comparison"]["buckets"][name] = diff.to_json()


def plot_curves(curves: Curves, pretrain_loss: list[float], hard_threshold: float, path: Path) -> None:
    """Three panels: pre-training loss, RPT reward per step, held-out hard-position accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_reward, ax_acc) = plt.subplots(1, 3, figsize=(15, 4.2))
    ax_loss.plot(np.arange(1, len(pretrain_loss) + 1), pretrain_loss, color="tab:gray", lw=1)
    ax_loss.set(title="1. Next-token pre-training", xlabel="pre-training step", ylabel="cross-entropy (nats/token)")

    ax_reward.plot(curves.reward_steps, curves.reward, color="tab:blue", alpha=0.3, lw=1, label="per step")
    window = max(1, len(curves.reward) // 10)
    if len(curves.reward) >= window > 1:
        smooth = np.convolve(curves.reward, np.ones(window) / window, mode="valid")
        ax_reward.plot(curves.reward_steps[window - 1 :], smooth, color="tab:blue", lw=2, label=f"mean of {window} steps")
    ax_reward.set(title="2. RPT: reward of sampled answers", xlabel="RPT step", ylabel="mean reward (train prompts)")
    ax_reward.set_ylim(bottom=0)
    ax_reward.legend(loc="lower right")

    ax_acc.plot(curves.val_steps, 100 * curves.val_ntp_acc, color="tab:red", marker="o", lw=2)
    ax_acc.set(
        title=f"3. Held-out accuracy, hard positions (H > {hard_threshold:g})",
        xlabel="RPT step",
        ylabel="greedy next-token accuracy (%)",
    )
    for ax in (ax_loss, ax_reward, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


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
