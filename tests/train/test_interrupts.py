"""Ctrl-C exits 130 leaving only whole files; resumed checkpoints count optimizer steps over all sessions."""

import csv
import signal
from pathlib import Path

import pytest
import torch

from rpt.cli import main
from rpt.config import load_config
from rpt.train.module import GRPOModule
from rpt.train.run import train


@pytest.fixture
def restore_sigint():
    """Lightning ignores SIGINT after it handled a Ctrl-C: give the test process its handler back."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


@pytest.mark.parametrize("where", ["step", "checkpoint"])
def test_ctrl_c_exits_130_and_leaves_no_half_written_file(train_args, tmp_path, monkeypatch, restore_sigint, where):
    if where == "step":
        real = GRPOModule.training_step

        def interrupted(self, step, batch_idx):
            if int(step) == 2:
                raise KeyboardInterrupt
            return real(self, step, batch_idx)

        monkeypatch.setattr(GRPOModule, "training_step", interrupted)
    else:
        from lightning.pytorch import Trainer

        real_save = Trainer.save_checkpoint

        def interrupted_save(self, filepath, *args, **kwargs):
            if "000002" in str(filepath):
                Path(filepath).write_bytes(b"half a checkpoint")
                raise KeyboardInterrupt
            return real_save(self, filepath, *args, **kwargs)

        monkeypatch.setattr(Trainer, "save_checkpoint", interrupted_save)
    assert main(["train", *train_args("trainer.max_steps=4", "trainer.ckpt_every=1")]) == 130
    ckpts = tmp_path / "run" / "checkpoints"
    done = 2 if where == "step" else 1
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt"] + [f"step-{s:06d}.ckpt" for s in range(1, done + 1)]
    assert (ckpts / "last.ckpt").resolve().name == f"step-{done:06d}.ckpt"
    torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=True)
    with (tmp_path / "run" / "metrics.csv").open(newline="") as f:
        assert all(r["step"] for r in csv.DictReader(f))
    monkeypatch.undo()
    assert main(["train", *train_args("trainer.max_steps=4", "trainer.ckpt_every=1", "resume=last")]) == 0


def test_resumed_checkpoints_count_optimizer_steps_of_every_session(train_args, tmp_path):
    common = ("grpo.mini_batches=2", "trainer.ckpt_every=2")
    straight = train(load_config(train_args(*common, "trainer.max_steps=4", run="straight")))
    train(load_config(train_args(*common, "trainer.max_steps=2", run="split")))
    split = train(load_config(train_args(*common, "trainer.max_steps=4", "run.resume=last", run="split")))
    steps = [torch.load(r.checkpoint, map_location="cpu", weights_only=True)["global_step"] for r in (straight, split)]
    assert steps == [8, 8]  # 4 steps x 2 mini-batches, however many sessions ran them
