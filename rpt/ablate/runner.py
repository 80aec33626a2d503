"""Run an ablation: every cell an ordinary `rpt train` run (or the NTP baseline) in its own folder,
one after another, resumable; each finished cell evaluated with `rpt eval` against its start model.

Layout under `run.dir`:
  ablation.json                     the grid (a rerun with another grid is refused)
  cells/<row>/seed-<k>/             one run directory per cell: config.yaml, metrics.csv, checkpoints/
  cells/<row>/seed-<k>/cell.json    written when its training is done (so a rerun skips it)
  cells/<row>/seed-<k>/eval/<mode>/eval.json   start model vs trained policy on the held-out positions
  ablation.md, ablation.csv, reward_curves.png, accuracy.png
"""

from __future__ import annotations

import copy
import json
import shutil
import statistics
import time
from pathlib import Path

from omegaconf import DictConfig

from rpt.ablate.grid import AblationSpec, Cell, parse_ablation
from rpt.config import load_config
from rpt.errors import RptError
from rpt.files import write_text_atomic

SPEC = "ablation.json"
CELL_DONE = "cell.json"
EVAL_DIR = "eval"


def run_ablation(overrides: list[str], dry_run: bool = False) -> Path:
    """Train and evaluate every cell not done yet, then write the table; returns the ablation folder."""
    spec = parse_ablation(overrides)
    root = Path(load_config([*spec.base, *(axis[0] for axis in spec.axes)]).run.dir).expanduser()
    cells = [(cell, cell_config(spec, cell, root)) for cell in spec.cells]  # every config is checked up front
    if dry_run:
        print(describe(spec, cells, root))
        return root
    claim(root, spec)
    for index, (cell, cfg) in enumerate(cells, start=1):
        print(f"\n== cell {index}/{len(cells)}: {cell.name} seed {cell.seed} -> {cfg.run.dir}", flush=True)
        if cell.kind == "ntp":
            budget = statistics.mean(rpt_flops(rpt_cfg) for c, rpt_cfg in cells if c.kind == "rpt")
            train_baseline(cfg, budget)
        else:
            train_cell(cfg)
        evaluate_cell(cfg, cell)
        print(time_left(cells), flush=True)
    from rpt.ablate.table import write_outputs

    write_outputs(root, [(cell, Path(cfg.run.dir)) for cell, cfg in cells])
    return root


def cell_config(spec: AblationSpec, cell: Cell, root: Path) -> DictConfig:
    """The base overrides plus the cell's axis values (the baseline: every axis at its first value),
    its own run directory, seed offset and the ablation's W&B group."""
    axes = cell.axes if cell.kind == "rpt" else tuple(axis[0] for axis in spec.axes)
    cfg = load_config([*spec.base, *axes])
    cfg.run.dir = str(cell_dir(root, cell))
    cfg.run.resume = None
    cfg.trainer.seed += cell.seed
    cfg.sampling.seed += cell.seed
    cfg.logger.wandb.group = root.name
    return cfg


def cell_dir(root: Path, cell: Cell) -> Path:
    return root / "cells" / cell.dir_name / f"seed-{cell.seed}"


def claim(root: Path, spec: AblationSpec) -> None:
    """Record the grid in the folder; an ablation with another grid may not reuse it."""
    path = root / SPEC
    if path.exists():
        if json.loads(path.read_text()) != spec.to_json():
            raise RptError(f"{root} holds another ablation ({path}); choose another run.dir=...")
        return
    if root.exists() and any(root.iterdir()):
        raise RptError(f"{root} exists and is not an ablation folder; choose another run.dir=...")
    root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(spec.to_json(), indent=1))


def train_cell(cfg: DictConfig) -> None:
    """`rpt train` for one cell: skipped when done, resumed from its last checkpoint when killed."""
    from rpt.train.run import train

    run_dir = Path(cfg.run.dir)
    if (run_dir / CELL_DONE).exists():
        print("done already: skipped")
        return
    if (run_dir / "checkpoints" / "last.ckpt").exists():
        cfg = copy.deepcopy(cfg)
        cfg.run.resume = "last"
        print("resuming from its last checkpoint")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)  # a start without a checkpoint: begin again, cleanly
    start = time.perf_counter()
    train(cfg)
    mark_done(run_dir, time.perf_counter() - start, resumed=cfg.run.resume is not None)


def train_baseline(cfg: DictConfig, budget_flops: float) -> None:
    """The NTP baseline for `budget_flops` (skipped when done; a killed one starts again)."""
    from rpt.ablate.baseline import train_ntp

    run_dir = Path(cfg.run.dir)
    if (run_dir / CELL_DONE).exists():
        print("done already: skipped")
        return
    start = time.perf_counter()
    train_ntp(cfg, budget_flops)
    mark_done(run_dir, time.perf_counter() - start, resumed=False, budget_flops=budget_flops)


def mark_done(run_dir: Path, wall_s: float, **facts: object) -> None:
    write_text_atomic(run_dir / CELL_DONE, json.dumps({"wall_s": wall_s, **facts}, indent=1))


def eval_modes(cfg: DictConfig) -> list[str]:
    """Greedy next-token accuracy always; sampled reasoning too when the template reasons."""
    return ["standard"] if cfg.prompt.template == "direct" else ["standard", "reasoning"]


def evaluate_cell(cfg: DictConfig, cell: Cell) -> None:
    """`rpt eval` of the start model and the cell's trained policy, on the same held-out positions."""
    from rpt.ablate.baseline import POLICY
    from rpt.eval.evaluate import run_eval

    run_dir = Path(cfg.run.dir)
    trained = run_dir / POLICY if cell.kind == "ntp" else run_dir
    for mode in eval_modes(cfg):
        out = run_dir / EVAL_DIR / mode
        if (out / "eval.json").exists():
            continue
        eval_cfg = copy.deepcopy(cfg)
        eval_cfg.eval.mode = mode
        eval_cfg.eval.models = [cfg.model.policy, str(trained)]
        eval_cfg.eval.templates = []
        eval_cfg.eval.patterns = mode == "reasoning" and cfg.eval.patterns
        eval_cfg.run.dir = str(out)
        run_eval(eval_cfg)


def rpt_flops(cfg: DictConfig) -> float:
    """Training FLOPs of a finished RPT cell, from its metrics.csv and the evaluated policy's size."""
    from rpt.ablate.flops import rpt_run_flops

    run_dir = Path(cfg.run.dir)
    return rpt_run_flops(n_params(run_dir), run_dir / "metrics.csv", cfg.grpo.ppo_epochs, cfg.grpo.kl_coef > 0)


def n_params(run_dir: Path) -> int:
    """The trained model's parameter count, as `rpt eval` counted it."""
    result = json.loads((run_dir / EVAL_DIR / "standard" / "eval.json").read_text())
    return int(result["models"][result["comparison"]["second"]]["n_params"])


def describe(spec: AblationSpec, cells: list[tuple[Cell, DictConfig]], root: Path) -> str:
    """The grid, which cells are done, and the time left."""
    lines = [f"ablation in {root}: {len(spec.axes)} axes, {spec.seeds} seed(s), "
             f"baseline {spec.baseline or 'none'}, {len(cells)} cells"]
    for cell, cfg in cells:
        wall = finished_wall(cfg)
        t = cfg.trainer
        size = (f"{t.max_steps} steps x {t.prompts_per_step} prompts x {cfg.sampling.n} samples"
                if cell.kind == "rpt" else "NTP for the RPT cells' mean FLOPs")
        lines.append(f"  {cell.name}  seed {cell.seed}  ({size}; {'to run' if wall is None else f'done in {wall:.0f}s'})")
    return "\n".join([*lines, time_left(cells)])


def finished_wall(cfg: DictConfig) -> float | None:
    """The training wall time of a finished cell, None for one not finished."""
    marker = Path(cfg.run.dir) / CELL_DONE
    return json.loads(marker.read_text())["wall_s"] if marker.exists() else None


def time_left(cells: list[tuple[Cell, DictConfig]]) -> str:
    """Cells left times the mean training time of the finished cells of the same kind (RPT / NTP)."""
    walls: dict[str, list[float]] = {}
    left: list[str] = []
    for cell, cfg in cells:
        wall = finished_wall(cfg)
        walls.setdefault(cell.kind, [])
        if wall is None:
            left.append(cell.kind)
        else:
            walls[cell.kind].append(wall)
    if not left:
        return "all cells done"
    timed = [kind for kind in left if walls[kind]]
    text = f"{len(left)} cells left"
    if timed:
        minutes = sum(statistics.mean(walls[kind]) for kind in timed) / 60
        text += f": about {minutes:.1f} min of training for {len(timed)} of them (the finished cells' mean), plus evaluation"
    unknown = sorted({kind.upper() for kind in left if not walls[kind]})
    if unknown:
        text += f"; the time of {' and '.join(unknown)} cells is known once one has finished"
    return text
