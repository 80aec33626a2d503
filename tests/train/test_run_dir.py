"""A new run never reuses a folder that holds anything, and config errors leave no folder behind."""

import errno
from pathlib import Path

import pytest

from rpt.cli import main


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): (str(p.readlink()).encode() if p.is_symlink() else p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_symlink() or p.is_file()}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.split("\r")[-1]  # after any progress bar
    assert err.startswith("rpt: error: ") and err.count("\n") == 1, err
    return err


def test_a_second_run_into_a_finished_runs_folder_is_refused(train_args, tmp_path, capsys):
    assert main(["train", *train_args("trainer.max_steps=1", "logger.wandb.mode=offline")]) == 0
    before = snapshot(tmp_path / "run")
    capsys.readouterr()
    assert main(["train", *train_args("trainer.max_steps=1", "logger.wandb.mode=offline", "optim.lr=1e-3")]) == 2
    assert "resume=last" in one_line_error(capsys)
    assert snapshot(tmp_path / "run") == before  # config, metrics, checkpoints, last.ckpt, W&B id untouched


def test_a_folder_with_any_file_is_refused(train_args, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    assert main(["train", *train_args()]) == 2
    assert "not empty" in one_line_error(capsys)
    assert snapshot(tmp_path / "run") == {"notes.txt": b"mine"}


@pytest.mark.parametrize("bad", [
    ["filter=entropy"],  # no data.scores
    ["filter=entropy", "filter.bogus=1"],
    ["data.val_fraction=1.0"],
    ["reward.bogus=1"],
    ["reward=proxy_prob"],  # scored by model.proxy, which is not set
])
def test_config_errors_are_found_before_the_run_folder_exists(train_args, tmp_path, capsys, bad):
    assert main(["train", *train_args(*bad, "logger.wandb.mode=offline")]) == 2
    one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_run_dir_below_a_regular_file_is_a_one_line_error(train_args, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    assert main(["train", *train_args(f"run.dir={tmp_path / 'plain' / 'run'}")]) == 2
    one_line_error(capsys)


def test_run_dir_on_a_read_only_file_system_is_a_one_line_error(train_args, tmp_path, capsys, monkeypatch):
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.is_relative_to(tmp_path / "run"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["train", *train_args()]) == 2
    assert "Read-only file system" in one_line_error(capsys)


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_resume_from_a_damaged_checkpoint_is_a_one_line_error(train_args, tmp_path, capsys, damage):
    assert main(["train", *train_args("trainer.max_steps=1")]) == 0
    ckpt = (tmp_path / "run" / "checkpoints" / "last.ckpt").resolve()
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(range(256)) * 64)
    capsys.readouterr()
    assert main(["train", *train_args("trainer.max_steps=2", "resume=last")]) == 2
    assert "step-000001.ckpt" in one_line_error(capsys)


def test_a_truncated_policy_weights_file_is_a_one_line_error_before_the_run_folder(train_args, pretrained_dir, tmp_path, capsys):
    import shutil

    broken = shutil.copytree(pretrained_dir, tmp_path / "broken")
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert main(["train", *train_args(f"model.policy={broken}")]) == 2
    assert "model.safetensors" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()
