"""Checkpoints every N steps into `<run dir>/checkpoints`, written atomically, with `last.ckpt` on the newest.

A checkpoint is Lightning's: policy weights, optimizer and scheduler state, loop counters, plus
the module's step, RNG state and task stream position (see `GRPOModule.on_save_checkpoint`). Under `strategy=fsdp` it is a folder of shards instead of a file.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer

from rpt.errors import RptError

CHECKPOINT_DIR = "checkpoints"
LAST = "last.ckpt"


class StepCheckpoint(Callback):
    """Save after every `every` training steps (0: only at the end) and when training ends."""

    def __init__(self, run_dir: Path, every: int) -> None:
        self.dirpath = Path(run_dir) / CHECKPOINT_DIR
        self.every = every
        self._saved_step = -1

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        step = pl_module.next_step  # steps finished
        if self.every and step % self.every == 0:
            self.save(trainer, step)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if pl_module.next_step != self._saved_step:
            self.save(trainer, pl_module.next_step)

    def save(self, trainer: Trainer, step: int) -> Path:
        """Write to a temporary name, then rename: a crash mid-write never leaves a broken checkpoint."""
        final = self.dirpath / f"step-{step:06d}.ckpt"
        staging = self.dirpath / f".step-{step:06d}.ckpt.tmp"
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
            _remove(staging)
        trainer.strategy.barrier("rpt-checkpoint-start")
        try:
            trainer.save_checkpoint(staging)
        except BaseException:  # Ctrl-C or a full disk mid-write: leave no half-written file behind
            if trainer.is_global_zero:
                _remove(staging)
            raise
        if trainer.is_global_zero:
            _remove(final)
            os.replace(staging, final)
            link = self.dirpath / f".{LAST}.tmp"
            _remove(link)
            link.symlink_to(final.name)
            os.replace(link, self.dirpath / LAST)
        trainer.strategy.barrier("rpt-checkpoint-end")
        self._saved_step = step
        return final


def resolve_resume(resume: str | None, run_dir: Path) -> tuple[Path, Path | None]:
    """(run directory, checkpoint to resume from) for `run.resume`.

    `last`: the newest checkpoint of `run.dir`. A run directory: its newest checkpoint, and the run
    continues in that directory. A checkpoint file (or sharded folder): that one, and its run
    directory continues.
    """
    if resume is None:
        return run_dir, None
    if resume == "last":
        return run_dir, _last_checkpoint(run_dir, "run.resume=last")
    path = Path(resume).expanduser()
    if not path.exists():
        raise RptError(f"run.resume: {path} does not exist")
    if (path / CHECKPOINT_DIR).is_dir():
        return path, _last_checkpoint(path, f"run.resume={resume}")
    return path.resolve().parent.parent, path.resolve()


def check_new_run_dir(run_dir: Path) -> None:
    """A new run needs a new or empty folder: reusing one would mix two runs' config, metrics and checkpoints."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RptError(f"run.dir {run_dir} is a file, not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise RptError(f"run.dir {run_dir} is not empty: resume=last continues the run in it; "
                       "a new run needs a new run.dir")


def find_checkpoint(source: str | Path) -> tuple[Path, Path]:
    """(run directory, checkpoint) for a run directory (its newest checkpoint) or a checkpoint path."""
    path = Path(source).expanduser()
    if not path.exists():
        raise RptError(f"{path} does not exist")
    if (path / CHECKPOINT_DIR).is_dir():
        return path, _last_checkpoint(path, str(path))
    return path.resolve().parent.parent, path.resolve()


def checkpoint_step(checkpoint: Path) -> int | None:
    """The steps finished when `checkpoint` was written, from its name (None for other names)."""
    match = re.fullmatch(r"step-(\d+)\.ckpt", checkpoint.name)
    return int(match.group(1)) if match else None


def _last_checkpoint(run_dir: Path, what: str) -> Path:
    last = run_dir / CHECKPOINT_DIR / LAST
    if not last.exists():
        raise RptError(f"{what}: no checkpoint in {run_dir / CHECKPOINT_DIR}; set run.dir to the run to resume")
    return last.resolve()


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
