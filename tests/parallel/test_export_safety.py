"""`rpt export RUN OUT` never deletes data: OUT must be new, empty or (with --force) an earlier export."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from rpt.cli import main
from rpt.parallel.checkpoint import EXPORT_MARKER


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (links as their target name) by relative path: what must survive."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            files[str(path.relative_to(root))] = str(path.readlink()).encode()
        elif path.is_file():
            files[str(path.relative_to(root))] = path.read_bytes()
    return files


@pytest.fixture
def runs(tmp_path, tiny_model_dir) -> Path:
    """`runs/x` and `runs/y`: run folders as `rpt train` leaves them (config, metrics, checkpoint), plus a note."""
    state = {f"policy.{k}": v for k, v in AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict().items()}
    for name in ("x", "y"):
        ckpts = tmp_path / "runs" / name / "checkpoints"
        ckpts.mkdir(parents=True)
        (ckpts.parent / "config.yaml").write_text(f"model:\n  policy: {tiny_model_dir}\n")
        (ckpts.parent / "metrics.csv").write_text("step,train/reward\n1,0.5\n")
        torch.save({"state_dict": state}, ckpts / "step-000001.ckpt")
        (ckpts / "last.ckpt").symlink_to("step-000001.ckpt")
    (tmp_path / "runs" / "notes.txt").write_text("keep me")
    return tmp_path / "runs"


@pytest.mark.parametrize("out", [".", "x", "x/checkpoints", "x/hf", "x/checkpoints/last.ckpt"])
def test_export_refuses_a_target_overlapping_the_run(runs, tiny_model_dir, capsys, out):
    before, model = snapshot(runs), snapshot(tiny_model_dir)
    assert main(["export", str(runs / "x"), str(runs / out), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rpt: error: ") and err.count("\n") == 1 and "overlaps" in err
    assert snapshot(runs) == before and snapshot(tiny_model_dir) == model


def test_export_refuses_the_base_model_folder_and_any_folder_with_other_files(runs, tiny_model_dir, tmp_path, capsys):
    model = snapshot(tiny_model_dir)
    assert main(["export", str(runs / "x"), str(tiny_model_dir), "--force"]) == 2
    assert "overlaps" in capsys.readouterr().err and snapshot(tiny_model_dir) == model
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.bin").write_bytes(b"precious")
    for force in ([], ["--force"]):
        assert main(["export", str(runs / "x"), str(other), *force]) == 2
        err = capsys.readouterr().err
        assert "not empty" in err and "--force" in err and err.count("\n") == 1
    assert snapshot(other) == {"data.bin": b"precious"}


def test_force_replaces_only_an_earlier_export(runs, tmp_path, capsys):
    out = tmp_path / "hf"
    assert main(["export", str(runs / "x"), str(out)]) == 0
    assert (out / EXPORT_MARKER).is_file() and (out / "model.safetensors").is_file()
    (out / "stale.txt").write_text("from the earlier export")
    capsys.readouterr()
    assert main(["export", str(runs / "x"), str(out)]) == 2
    assert "--force overwrites" in capsys.readouterr().err and (out / "stale.txt").exists()
    assert main(["export", str(runs / "x"), str(out), "--force"]) == 0
    assert not (out / "stale.txt").exists() and (out / EXPORT_MARKER).is_file()
    AutoModelForCausalLM.from_pretrained(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging leftovers


def test_an_empty_folder_is_a_valid_target(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["export", str(runs / "x"), str(tmp_path / "empty")]) == 0
    assert (tmp_path / "empty" / "config.json").is_file()


def test_a_failed_export_leaves_the_earlier_export_whole(runs, tmp_path, monkeypatch):
    out = tmp_path / "hf"
    assert main(["export", str(runs / "x"), str(out)]) == 0
    before = snapshot(out)

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("transformers.PreTrainedModel.save_pretrained", fail)
    assert main(["export", str(runs / "x"), str(out), "--force"]) == 2
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("make_target", ["file", "below_file"])
def test_export_target_a_regular_file_or_below_one_is_a_one_line_error(runs, tmp_path, capsys, make_target):
    (tmp_path / "plain").write_text("not a folder")
    out = tmp_path / "plain" if make_target == "file" else tmp_path / "plain" / "hf"
    assert main(["export", str(runs / "x"), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rpt: error: ") and err.count("\n") == 1
    assert (tmp_path / "plain").read_text() == "not a folder"


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_a_damaged_checkpoint_is_a_one_line_error(runs, tmp_path, capsys, damage):
    ckpt = runs / "x" / "checkpoints" / "step-000001.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(range(256)) * 64)
    assert main(["export", str(runs / "x"), str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rpt: error: ") and "step-000001.ckpt" in err and err.count("\n") == 1
    assert not (tmp_path / "hf").exists()
