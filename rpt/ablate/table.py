"""The ablation's results, read back from every cell's own files (metrics.csv, cell.json,
eval/<mode>/eval.json): ablation.csv, ablation.md and two plots.

One row per grid point: the mean over its seeds with a 95% t-interval (none for one seed).
`Δ` is the paired difference to the start model on the same held-out positions; `k/N` counts the
seeds whose own paired 95% interval lies above zero.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from rpt.ablate.flops import ntp_flops, rpt_run_flops
from rpt.ablate.grid import Cell
from rpt.files import write_text_atomic

FINAL_SHARE = 0.1  # "final train reward": the mean over the last 10% of logged steps (at least one)


def read_curve(metrics_csv: Path, column: str = "train/reward") -> list[tuple[int, float]]:
    """(step, value) of every row that logged `column`."""
    with metrics_csv.open(newline="") as f:
        return [(int(float(r["step"])), float(r[column])) for r in csv.DictReader(f) if r.get(column)]


def final_value(curve: list[tuple[int, float]]) -> float:
    if not curve:
        return math.nan
    tail = curve[-max(1, round(len(curve) * FINAL_SHARE)):]
    return float(np.mean([v for _, v in tail]))


def run_record(cell: Cell, run_dir: Path) -> dict[str, float]:
    """One finished cell's numbers, each from the file that holds it."""
    cfg = OmegaConf.load(run_dir / "config.yaml")
    record = {"wall_s": json.loads((run_dir / "cell.json").read_text())["wall_s"]}
    for mode_dir in sorted((run_dir / "eval").iterdir()):
        result = json.loads((mode_dir / "eval.json").read_text())
        start, trained = result["comparison"]["first"], result["comparison"]["second"]
        record["n_params"] = result["models"][trained]["n_params"]
        for bucket, value in result["models"][trained]["buckets"].items():
            record[f"{mode_dir.name}/acc/{bucket}"] = value["accuracy"]
            record[f"{mode_dir.name}/start/{bucket}"] = result["models"][start]["buckets"][bucket]["accuracy"]
        for bucket, diff in result["comparison"]["buckets"].items():
            record[f"{mode_dir.name}/diff/{bucket}"] = diff["difference"]
            low = diff["ci95"][0]
            record[f"{mode_dir.name}/better/{bucket}"] = float(low is not None and low > 0)
    metrics = run_dir / "metrics.csv"
    if cell.kind == "ntp":
        record["flops"] = ntp_flops(record["n_params"], sum(v for _, v in read_curve(metrics, "train/tokens")))
        record["final_reward"] = math.nan
    else:
        record["flops"] = rpt_run_flops(record["n_params"], metrics, cfg.grpo.ppo_epochs, cfg.grpo.kl_coef > 0)
        record["final_reward"] = final_value(read_curve(metrics))
    return record


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds (NaN bounds for a single seed)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def summarise(records: list[tuple[Cell, dict[str, float]]]) -> list[dict]:
    """One row per grid point (in grid order): seeds, then mean/CI (or, for `better/*`, the count) per key."""
    groups: dict[str, list[tuple[Cell, dict[str, float]]]] = defaultdict(list)
    for cell, record in records:
        groups[cell.name].append((cell, record))
    rows = []
    for name, runs in groups.items():
        row: dict = {"cell": name, "kind": runs[0][0].kind, "seeds": len(runs)}
        for key in runs[0][1]:
            values = [r[key] for _, r in runs]
            if "/better/" in key:
                row[key] = int(sum(values))
            else:
                row[f"{key}_mean"], row[f"{key}_ci_low"], row[f"{key}_ci_high"] = mean_ci(values)
        rows.append(row)
    return rows


def write_outputs(root: Path, cells: list[tuple[Cell, Path]]) -> Path:
    """ablation.csv, ablation.md, reward_curves.png and accuracy.png in `root`; returns ablation.md."""
    records = [(cell, run_record(cell, run_dir)) for cell, run_dir in cells]
    rows = summarise(records)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with (root / "ablation.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    modes = sorted({key.split("/")[0] for _, r in records for key in r if "/acc/" in key})
    plots = {"reward_curves.png": plot_rewards(cells, root / "reward_curves.png")}
    for mode in modes:
        plots[f"accuracy_{mode}.png"] = plot_accuracy(rows, records, mode, root / f"accuracy_{mode}.png")
    text = markdown(root, rows, records, modes, list(plots))
    write_text_atomic(root / "ablation.md", text)
    print("\n" + text)
    return root / "ablation.md"


def markdown(root: Path, rows: list[dict], records: list[tuple[Cell, dict]], modes: list[str], plots: list[str]) -> str:
    spec = json.loads((root / "ablation.json").read_text())
    lines = [f"# Ablation: {root.name}", "",
             f"Shared overrides: `{' '.join(spec['base']) or '(none)'}`; axes: "
             + ("; ".join(", ".join(f"`{v}`" for v in axis) for axis in spec["axes"]) or "none")
             + f"; {spec['seeds']} seed(s); baseline: {spec['baseline'] or 'none'}.", "",
             "Mean over seeds ± 95% t-interval half-width. Accuracy and Δ in points; Δ is the paired "
             "difference to the start model on the same held-out positions, and k/N counts the seeds whose "
             "own paired 95% interval lies above zero. Compute counts 2·N FLOPs per generated or scored "
             "token and 6·N per trained token, alike for RPT and NTP; final reward is the mean train reward "
             "over the last 10% of steps.", ""]
    for mode in modes:
        buckets = [key.split("/")[2] for key in records[0][1] if key.startswith(f"{mode}/acc/")]
        header = ["cell", "seeds", "final reward", "compute (FLOPs)", "wall (s)"]
        header += [f"{b} acc" for b in buckets] + [f"{b} Δ (k/N)" for b in buckets]
        start = rows[0]
        table = [header, ["start model", "", "", "", ""]
                 + [_fmt(start, f"{mode}/start/{b}", 100) for b in buckets] + [""] * len(buckets)]
        for row in rows:
            table.append([row["cell"], str(row["seeds"]), _fmt(row, "final_reward", 1, 3), _fmt_sci(row["flops_mean"]),
                          _fmt(row, "wall_s", 1, 0)]
                         + [_fmt(row, f"{mode}/acc/{b}", 100) for b in buckets]
                         + [f"{_fmt(row, f'{mode}/diff/{b}', 100, signed=True)} ({row[f'{mode}/better/{b}']}/{row['seeds']})"
                            for b in buckets])
        lines += [f"## {mode} next-token accuracy", "", *_md_table(table), ""]
    lines += ["## Plots", "", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def _fmt(row: dict, key: str, scale: float, digits: int = 1, signed: bool = False) -> str:
    mean, low, high = row.get(f"{key}_mean"), row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    if mean is None or math.isnan(mean):
        return "–"
    text = f"{scale * mean:{'+' if signed else ''}.{digits}f}"
    return text if math.isnan(low) else f"{text} ± {scale * (high - low) / 2:.{digits}f}"


def _fmt_sci(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2e}"


def _md_table(table: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(r) + " |" for r in table[:1]] + ["|" + "---|" * len(table[0])] + \
        ["| " + " | ".join(r) + " |" for r in table[1:]]


def plot_rewards(cells: list[tuple[Cell, Path]], path: Path) -> Path:
    """Train reward by step per grid point (mean over seeds)."""
    from rpt.eval.plots import line_plot

    by_name: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell, run_dir in cells:
        if cell.kind == "rpt":
            for step, value in read_curve(run_dir / "metrics.csv"):
                by_name[cell.name][step].append(value)
    series = {name: (sorted(steps), [float(np.mean(steps[s])) for s in sorted(steps)]) for name, steps in by_name.items()}
    return line_plot(series, path, "step", "train reward (mean over seeds)", "RPT reward per cell")


def plot_accuracy(rows: list[dict], records: list[tuple[Cell, dict]], mode: str, path: Path) -> Path:
    """Held-out accuracy per bucket: the start model and every grid point, with 95% intervals over seeds."""
    from rpt.eval.plots import grouped_bars

    buckets = [key.split("/")[2] for key in records[0][1] if key.startswith(f"{mode}/acc/")]
    series = {"start model": [rows[0][f"{mode}/start/{b}_mean"] for b in buckets]}
    errors = {}
    for row in rows:
        series[row["cell"]] = [row[f"{mode}/acc/{b}_mean"] for b in buckets]
        if row["seeds"] > 1:
            errors[row["cell"]] = [(row[f"{mode}/acc/{b}_ci_low"], row[f"{mode}/acc/{b}_ci_high"]) for b in buckets]
    return grouped_bars(buckets, series, path, "next-token accuracy (%)", f"{mode} accuracy per bucket", errors)
