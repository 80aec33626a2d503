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
from rpt.data.corpus import load_tokenizer
from rpt.data.prompts import check_template
from rpt.errors import RptError
from rpt.files import write_text_atomic
from rpt.grpo.loss import KL_ESTIMATORS, LOSS_AGGREGATIONS
from rpt.train.checkpoint import StepCheckpoint, checkpoint_step, find_checkpoint, resolve_resume
from rpt.train.loggers import METRICS_CSV, build_loggers, finish_wandb, truncate_metrics


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
    if rank_zero_only.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", resolved_yaml(cfg))
        if resume_from is not None and (done := checkpoint_step(resume_from)) is not None:
            truncate_metrics(run_dir / METRICS_CSV, done)
    lightning.seed_everything(cfg.trainer.seed, workers=True, verbose=False)

    from rpt.train.data import TaskDataModule
    from rpt.train.module import GRPOModule
    from rpt.train.qa_data import QADataModule

    tokenizer = load_tokenizer(cfg.model.tokenizer or cfg.model.policy)
    data = (QADataModule if cfg.data.kind == "qa" else TaskDataModule)(cfg, tokenizer)
    module = GRPOModule(cfg, tokenizer)
    checkpoints = StepCheckpoint(run_dir, cfg.trainer.ckpt_every)
    trainer = build_trainer(cfg, run_dir, checkpoints)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # GRPO trains without dropout
        warnings.filterwarnings("ignore", message=".*IterableDataset. has .__len__. defined.*")
        os.environ[RUN_DIR_ENV] = str(run_dir)
        try:
            trainer.fit(module, datamodule=data, ckpt_path=str(resume_from) if resume_from else None)
        finally:
            if launched_by is None:
                os.environ.pop(RUN_DIR_ENV, None)
    finish_wandb(trainer.loggers)  # after a crash W&B's own exit hook closes the run, marked failed
    metrics_csv = run_dir / METRICS_CSV
    return TrainResult(run_dir, (run_dir / "checkpoints" / "last.ckpt").resolve(), metrics_csv, last_values(metrics_csv))


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
    """Reject settings GRPO cannot train with, before anything heavy is loaded."""
    g, s, t = cfg.grpo, cfg.sampling, cfg.trainer
    check_template(cfg.prompt.template)
    problems = [
        (cfg.data.kind not in ("ntp", "qa"), f"data.kind must be ntp or qa, got {cfg.data.kind!r}"),
        (s.n < 2, f"sampling.n must be >= 2 (GRPO compares samples of one prompt), got {s.n}"),
        (s.temperature <= 0, f"sampling.temperature must be > 0 for training, got {s.temperature}"),
        (g.loss_agg not in LOSS_AGGREGATIONS, f"grpo.loss_agg must be one of {', '.join(LOSS_AGGREGATIONS)}, got {g.loss_agg!r}"),
        (g.kl_estimator not in KL_ESTIMATORS, f"grpo.kl_estimator must be one of {', '.join(KL_ESTIMATORS)}, got {g.kl_estimator!r}"),
        (g.dual_clip is not None and g.dual_clip <= 1, f"grpo.dual_clip must be > 1 (or null), got {g.dual_clip}"),
        (g.tis_cap is not None and g.tis_cap <= 0, f"grpo.tis_cap must be > 0 (or null), got {g.tis_cap}"),
        (min(g.ppo_epochs, g.mini_batches, g.micro_batch_size, g.logprob_chunk_tokens) < 1,
         "grpo.ppo_epochs, mini_batches, micro_batch_size and logprob_chunk_tokens must be >= 1"),
        (t.max_steps < 1 or t.prompts_per_step < 1, "trainer.max_steps and trainer.prompts_per_step must be >= 1"),
        (min(t.val_every, t.ckpt_every, t.val_tasks) < 0, "trainer.val_every, ckpt_every and val_tasks must be >= 0"),
    ]
    for failed, message in problems:
        if failed:
            raise RptError(message)


def last_values(metrics_csv: Path) -> dict[str, float]:
    """The last logged value of every column of a Lightning CSV log (rows are sparse)."""
    values: dict[str, float] = {}
    if not metrics_csv.exists():
        return values
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            values.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return values


def export(source: str | Path, out_dir: str | Path) -> Path:
    """Write the policy of a run (its newest checkpoint) or of one checkpoint as a Hugging Face folder."""
    from omegaconf import OmegaConf

    from rpt.parallel.checkpoint import export_checkpoint

    run_dir, checkpoint = find_checkpoint(source)
    config = run_dir / "config.yaml"
    if not config.exists():
        raise RptError(f"{config} not found: export needs the run directory the checkpoint was written in")
    policy = OmegaConf.load(config).model.policy
    return export_checkpoint(checkpoint, out_dir, policy=policy, prefix="policy.")
