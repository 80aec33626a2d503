"""`train(cfg)`: build data, module, callbacks, loggers and the Lightning Trainer, then fit.

Everything a run writes goes under `run.dir`:
  config.yaml            the fully resolved config
  metrics.csv            every logged metric by step (train/*, val/*, reward/*, rollout/*)
  checkpoints/           step-NNNNNN.ckpt every trainer.ckpt_every steps and at the end; last.ckpt -> newest
  wandb/                 the W&B run (offline by default)
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning
from lightning.pytorch import Trainer
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from rpt.config import require, resolved_yaml
from rpt.errors import RptError
from rpt.files import write_text_atomic
from rpt.models import load_tokenizer
from rpt.parallel.checkpoint import check_readable
from rpt.registry import with_plugin_defaults
from rpt.train.checkpoint import StepCheckpoint, check_new_run_dir, checkpoint_step, resolve_resume
from rpt.train.loggers import METRICS_CSV, build_loggers, finish_wandb, truncate_metrics
from rpt.train.policy import check_weight_files


RUN_DIR_ENV = "RPT_RUN_DIR"  # the run directory, handed to the processes Lightning launches


@dataclass
class TrainResult:
    """Where a finished run put things, and its last logged value of every metric."""

    run_dir: Path
    checkpoint: Path  # the final checkpoint (also <run_dir>/checkpoints/last.ckpt)
    metrics_csv: Path
    final_metrics: dict[str, float] = field(default_factory=dict)


def train(cfg: DictConfig) -> TrainResult:
    """Run RPT with GRPO as `cfg` says; resumes when `run.resume` is set. Returns where the results are."""
    require(cfg, "model.policy", "data.path")
    check_train_config(cfg)
    # Lightning starts the other devices' processes by re-running this command: they must not pick a
    # run directory of their own (the default one carries the time), so the first process passes its own
    launched_by = os.environ.get(RUN_DIR_ENV)
    run_dir, resume_from = resolve_resume(cfg.run.resume, Path(launched_by or cfg.run.dir).expanduser())
    cfg.run.dir = str(run_dir)
    if launched_by is None and resume_from is None and rank_zero_only.rank == 0:
        check_new_run_dir(run_dir)
    if resume_from is not None:
        check_readable(resume_from)
    check_weight_files(cfg.model.policy)
    lightning.seed_everything(cfg.trainer.seed, workers=True, verbose=False)

    from rpt.train.module import GRPOModule

    # everything that can reject the config (corpus, filter, scores, plugins) runs before the run
    # folder and the W&B run exist, so a corrected command can start the same run.dir again
    tokenizer = load_tokenizer(cfg.model.tokenizer or cfg.model.policy)
    module = GRPOModule(cfg, tokenizer)
    module.check_plugins()
    module.task_source.setup()  # Lightning's `setup` finds the tasks built
    if rank_zero_only.rank == 0:
        start_run_dir(run_dir, cfg, resume_from)
    checkpoints = StepCheckpoint(run_dir, cfg.trainer.ckpt_every)
    trainer = build_trainer(cfg, run_dir, checkpoints)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # GRPO trains without dropout
        warnings.filterwarnings("ignore", message=".*IterableDataset. has .__len__. defined.*")
        os.environ[RUN_DIR_ENV] = str(run_dir)
        try:
            trainer.fit(module, ckpt_path=str(resume_from) if resume_from else None)
        except SystemExit:  # Lightning turns Ctrl-C into exit(1) after its shutdown; rpt exits 130 for it
            if trainer.interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            if launched_by is None:
                os.environ.pop(RUN_DIR_ENV, None)
    finish_wandb(trainer.loggers)  # after a crash W&B's own exit hook closes the run, marked failed
    metrics_csv = run_dir / METRICS_CSV
    return TrainResult(run_dir, (run_dir / "checkpoints" / "last.ckpt").resolve(), metrics_csv, last_values(metrics_csv))


def start_run_dir(run_dir: Path, cfg: DictConfig, resume_from: Path | None) -> None:
    """Create the run folder with its config.yaml; a resumed run's metrics lose the steps it redoes."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", resolved_yaml(with_plugin_defaults(cfg)))  # every option that runs
    except OSError as err:
        raise RptError(f"cannot write the run folder {run_dir}: {err.strerror or err}") from None
    if resume_from is not None and (done := checkpoint_step(resume_from)) is not None:
        truncate_metrics(run_dir / METRICS_CSV, done)


def expand_shorthands(overrides: list[str]) -> list[str]:
    """`resume=X` on the command line means `run.resume=X`."""
    return [f"run.{o}" if o.startswith("resume=") else o for o in overrides]


def build_trainer(cfg: DictConfig, run_dir: Path, checkpoints: StepCheckpoint) -> Trainer:
    """The Lightning Trainer: one epoch over the remaining steps (the module validates on its own schedule)."""
    from rpt.parallel.strategy import strategy_kwargs

    t = cfg.trainer
    placement = {"accelerator": t.accelerator, "devices": t.devices, "num_nodes": t.num_nodes}
    placement.update(strategy_kwargs(cfg.strategy))
    return Trainer(
        **placement,
        precision=t.precision,
        max_epochs=1,
        max_steps=-1,  # the step loader yields exactly trainer.max_steps steps
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=build_loggers(cfg, run_dir),
        callbacks=[checkpoints],
        enable_checkpointing=False,  # StepCheckpoint saves (every N RL steps, not optimizer steps)
        enable_model_summary=False,
        log_every_n_steps=t.log_every,
        default_root_dir=str(run_dir),
    )


def check_train_config(cfg: DictConfig) -> None:
    """Reject settings GRPO cannot train with (ranges and options every command shares are checked
    when the config is composed, see `rpt.config`)."""
    s = cfg.sampling
    if s.n < 2:
        raise RptError(f"sampling.n must be >= 2 (GRPO compares samples of one prompt), got {s.n}")
    if s.temperature <= 0:
        raise RptError(f"sampling.temperature must be > 0 for training, got {s.temperature}")


def last_values(metrics_csv: Path) -> dict[str, float]:
    """The last logged value of every column of a Lightning CSV log (rows are sparse)."""
    values: dict[str, float] = {}
    if not metrics_csv.exists():
        return values
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            values.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return values


