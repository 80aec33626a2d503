"""CSV (always) and Weights & Biases (`logger.wandb.mode`: online | offline | disabled) loggers."""

from __future__ import annotations

import csv
import logging
import os
import uuid
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from omegaconf import DictConfig, OmegaConf


METRICS_CSV = "metrics.csv"

log = logging.getLogger(__name__)


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    """`<run dir>/metrics.csv`, plus a W&B run under `<run dir>/wandb` (offline needs no network).

    A resumed run logs into the same W&B run: its id is kept in `<run dir>/wandb-id`. When an
    online run cannot start (no network, no API key), training goes on with an offline run and
    one warning line.
    """
    loggers: list[Logger] = [RunCSVLogger(save_dir=str(run_dir), name="", version="")]
    wandb = cfg.logger.wandb
    if wandb.mode != "disabled":
        os.environ["WANDB_DIR"] = str(run_dir)
        logger = _wandb_logger(cfg, run_dir, wandb.mode)
        if wandb.mode == "online":
            try:
                logger.experiment  # starts the run now: an outage shows here, not in the first step
            except Exception as err:  # wandb raises UsageError (no key), CommError (no network), ...
                log.warning("rpt: warning: W&B is unreachable (%s); logging offline to %s/wandb instead "
                            "(upload later with `wandb sync`)", _first_line(err), run_dir)
                import wandb as wandb_sdk

                wandb_sdk.teardown()  # the failed attempt may still hold the run id
                logger = _wandb_logger(cfg, run_dir, "offline")
        loggers.append(logger)
    return loggers


def _wandb_logger(cfg: DictConfig, run_dir: Path, mode: str) -> WandbLogger:
    wandb = cfg.logger.wandb
    return WandbLogger(
        project=wandb.project,
        entity=wandb.entity,
        group=wandb.group,
        name=run_dir.name,
        id=_wandb_id(run_dir),
        resume="allow",
        save_dir=str(run_dir),
        mode=mode,
        config=OmegaConf.to_container(cfg, resolve=True),
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def finish_wandb(loggers: list[Logger]) -> None:
    """Close this process's W&B run: Lightning leaves it open, and a later `wandb.init` in the same
    process (`rpt report`, a second `train` call from Python) would otherwise log into it."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()  # a no-op stand-in on ranks other than 0


def _wandb_id(run_dir: Path) -> str:
    path = run_dir / "wandb-id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex[:12])
    return path.read_text().strip()


class RunCSVLogger(CSVLogger):
    """Lightning's CSV logger writing `<run dir>/metrics.csv`, continued (not replaced) by a resumed run."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


class _ContinuingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        """Keep an existing metrics.csv and its columns (Lightning's writer deletes it)."""
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = list(csv.DictReader(f).fieldnames or [])


def truncate_metrics(metrics_csv: Path, last_step: int) -> None:
    """Drop logged rows after `last_step`: a resumed run logs those steps again."""
    if not metrics_csv.exists():
        return
    with metrics_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], [r for r in reader if float(r.get("step") or 0) <= last_step]
    tmp = metrics_csv.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, metrics_csv)
