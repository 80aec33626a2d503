"""Evaluate every checkpoint of a training run and place it on the training-compute axis (for scaling fits).

Each checkpoint `RUN_DIR/checkpoints/step-N.ckpt` is evaluated by `rpt eval` (which exports it to
a Hugging Face folder first) with the run's config; its eval.json goes to `RUN_DIR/eval/step-N/` with the step,
tokens processed and FLOPs added, and is reused on the next call (delete it to re-evaluate).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import OmegaConf

from rpt.errors import RptError
from rpt.eval.scaling import training_flops

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

TOKENS_COLUMN = "train/tokens"  # prompt + response tokens trained on in the step (runs before it was logged lack it)
RESPONSE_LEN_COLUMN = "train/response_len"  # mean response length of the step's samples


def run_config(run_dir: Path, overrides: list[str]) -> "DictConfig":
    """The config a run was trained with (its config.yaml), typed, with command-line overrides on top."""
    from rpt.config import RootConfig

    path = run_dir / "config.yaml"
    if not path.exists():
        raise RptError(f"{path} not found: give the directory a `rpt train` run wrote")
    try:
        return OmegaConf.merge(OmegaConf.structured(RootConfig), OmegaConf.load(path), OmegaConf.from_dotlist(overrides))
    except Exception as err:  # OmegaConf raises several types for bad keys and values
        raise RptError(f"bad override for {path}: {' '.join(str(err).split()).split(' full_key:')[0]}") from None


def tokens_through_steps(run_dir: Path, cfg: "DictConfig") -> dict[int, float]:
    """Cumulative training tokens after each logged step, from the run's metrics.csv.

    Uses `train/tokens` when the trainer logged it; otherwise response tokens only
    (prompts_per_step × sampling.n × mean response length), which is what the log has.
    A constant factor in compute does not change the fitted P* and α.
    """
    path = run_dir / "metrics.csv"
    if not path.exists():
        raise RptError(f"{path} not found: the run's metrics give the tokens it trained on")
    per_step: dict[int, float] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get(TOKENS_COLUMN):
                per_step[int(float(row["step"]))] = float(row[TOKENS_COLUMN])
            elif row.get(RESPONSE_LEN_COLUMN):
                samples = cfg.trainer.prompts_per_step * cfg.sampling.n
                per_step.setdefault(int(float(row["step"])), samples * float(row[RESPONSE_LEN_COLUMN]))
    steps = sorted(per_step)
    return dict(zip(steps, np.cumsum([per_step[s] for s in steps]).tolist()))


def evaluate_checkpoints(run_dir: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """eval.json of every checkpoint (evaluating those not done yet), each with step, tokens and FLOPs."""
    from rpt.eval.evaluate import run_eval, write_json
    from rpt.train.checkpoint import checkpoint_step

    cfg = run_config(run_dir, overrides)
    # step 0 (no training yet) has no place on a power law in compute
    checkpoints = sorted(p for p in (run_dir / "checkpoints").glob("step-*.ckpt") if checkpoint_step(p))
    if not checkpoints:
        raise RptError(f"no step-N.ckpt checkpoints in {run_dir / 'checkpoints'}")
    tokens = tokens_through_steps(run_dir, cfg)
    results = []
    for checkpoint in checkpoints:
        step = checkpoint_step(checkpoint)
        out = run_dir / "eval" / f"step-{step:06d}" / "eval.json"
        if not out.exists():
            result = run_eval(OmegaConf.merge(cfg, {"eval": {"models": [str(checkpoint)], "templates": [], "patterns": False},
                                                   "run": {"dir": str(out.parent)}}))
            result["models"] = {f"step-{step:06d}": next(iter(result["models"].values()))}
            write_json(out, result)
        result = json.loads(out.read_text())
        if step not in tokens:
            raise RptError(f"{run_dir / 'metrics.csv'} has no training row for step {step}")
        n_params = next(iter(result["models"].values()))["n_params"]
        result.update(step=step, train_tokens=tokens[step], train_flops=training_flops(n_params, tokens[step]))
        write_json(out, result)
        results.append(result)
    return results
