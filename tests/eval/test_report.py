"""`rpt report` and `rpt patterns` on run directories, and `rpt report scaling` over a run's checkpoints."""

import csv
import json

import numpy as np
import pytest
import torch

from rpt.cli import main
from rpt.config import load_config, resolved_yaml
from rpt.eval.evaluate import write_json

PNG = b"\x89PNG\r\n\x1a\n"


def bucket(n, accuracy, low, high):
    return {"n": n, "accuracy": accuracy, "ci95": [low, high]}


EVAL = {
    "mode": "standard", "n_positions": 100, "difficulty": {"scores": "s", "model": "proxy@abc", "top_k": 16},
    "thresholds": {"easy": 0.5, "hard": 1.5},
    "models": {
        "base": {"path": "base", "n_params": 10, "buckets": {"all": bucket(100, 0.41, 0.32, 0.51),
                                                             "easy": bucket(40, 0.30, 0.18, 0.45),
                                                             "hard": bucket(0, None, None, None)}},
        "rpt": {"path": "rpt", "n_params": 10, "buckets": {"all": bucket(100, 0.45, 0.36, 0.55),
                                                           "easy": bucket(40, 0.35, 0.22, 0.50),
                                                           "hard": bucket(0, None, None, None)}},
    },
    "comparison": {"first": "base", "second": "rpt", "buckets": {
        "all": {"n": 100, "difference": 0.04, "ci95": [0.0, 0.08]},
        "easy": {"n": 40, "difference": 0.05, "ci95": [-0.01, 0.11]},
        "hard": {"n": 0, "difference": None, "ci95": [None, None]}}},
}


def test_report_renders_tables_and_plots(capsys, tmp_path):
    write_json(tmp_path / "eval.json", EVAL)
    (tmp_path / "responses").mkdir()
    responses = {"base": ["Wait, probably x.", "So be it."], "rpt": ["Wait, probably.", "Probably wait; finally."]}
    for name, texts in responses.items():
        (tmp_path / "responses" / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    assert main(["patterns", str(tmp_path)]) == 0  # the paper's keywords (Table 9)
    patterns = json.loads((tmp_path / "patterns.json").read_text())
    # responses showing reflection ("wait"): base 1 of 2, rpt 2 of 2; hypothesis ("probably") the same;
    # deduction ("finally"): base 0, rpt 1 of 2 (no relative change from zero)
    assert patterns["relative_change"]["reflection"] == pytest.approx(1.0)
    assert patterns["relative_change"]["hypothesis"] == pytest.approx(1.0)
    assert patterns["relative_change"]["deduction"] is None

    assert main(["report", str(tmp_path), "logger.wandb.mode=disabled"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "| easy (H > 0.5) | 40 | 30.0% [18.0, 45.0] | 35.0% [22.0, 50.0] | +5.0% [-1.0, +11.0] |" in report
    assert "| hard (H > 1.5) | 0 | – | – | – |" in report
    assert "| reflection | 50.0% | 100.0% | +100.0% |" in report
    assert "| deduction | 0.0% | 50.0% | – |" in report
    for image in ("accuracy.png", "patterns.png"):
        assert f"]({image})" in report and (tmp_path / image).read_bytes().startswith(PNG)


def test_report_of_an_empty_directory_is_a_one_line_error(capsys, tmp_path):
    assert main(["report", str(tmp_path), "logger.wandb.mode=disabled"]) == 2
    assert "nothing to report" in capsys.readouterr().err
    assert main(["report", "scaling"]) == 2


@pytest.fixture
def trained_run(trained_model_dir, tiny_model_dir, corpus_jsonl, tmp_path):
    """A run directory as `rpt train` leaves it: config.yaml, metrics.csv, checkpoints/step-N.ckpt."""
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    cfg = load_config([f"model.policy={tiny_model_dir}", f"data.path={corpus_jsonl}", "data.val_fraction=0.25",
                       f"data.cache_dir={tmp_path / 'cache'}", f"run.dir={run}", "trainer.prompts_per_step=4",
                       "sampling.n=2", "eval.max_positions=40", "logger.wandb.mode=disabled"])
    (run / "config.yaml").write_text(resolved_yaml(cfg))
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    end = AutoModelForCausalLM.from_pretrained(trained_model_dir).state_dict()
    steps = [10, 20, 40, 80, 160]
    for step in steps:  # weights move from the untrained to the trained model as steps grow
        mix = 1 - 20 / (step + 20)
        state = {f"policy.{k}": (1 - mix) * start[k] + mix * end[k] for k in start}
        torch.save({"state_dict": state}, run / "checkpoints" / f"step-{step:06d}.ckpt")
    with (run / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "train/response_len", "val/ntp_acc"])
        for step in range(1, 161):
            writer.writerow([step, 5.0, ""])
    return run


def test_scaling_report_evaluates_checkpoints_and_fits(capsys, trained_run):
    assert main(["report", "scaling", str(trained_run)]) == 0
    scaling = json.loads((trained_run / "scaling.json").read_text())
    points = scaling["points"]["all"]
    assert points["step"] == [10, 20, 40, 80, 160]
    n_params = json.loads((trained_run / "eval" / "step-000010" / "eval.json").read_text())["models"]["step-000010"]["n_params"]
    # 4 prompts x 2 samples x 5 response tokens per step; FLOPs = 6 N D
    assert points["train_flops"] == pytest.approx([6 * n_params * 40 * s for s in (10, 20, 40, 80, 160)])
    assert set(scaling["fits"]) == {"all"}  # no difficulty scores in this run
    fit = scaling["fits"]["all"]
    predicted = fit["p_star"] - fit["a"] * np.asarray(points["train_flops"]) ** (-fit["alpha"])
    residual = np.asarray(points["accuracy"]) - predicted
    total = np.asarray(points["accuracy"]) - np.mean(points["accuracy"])
    assert fit["r2"] == pytest.approx(1 - (residual**2).sum() / (total**2).sum())
    report = (trained_run / "report.md").read_text()
    assert "## Scaling with training compute" in report and (trained_run / "scaling.png").read_bytes().startswith(PNG)


@pytest.mark.slow
def test_report_logs_plots_to_an_offline_wandb_run(tmp_path):
    write_json(tmp_path / "eval.json", EVAL)
    assert main(["report", str(tmp_path), "logger.wandb.mode=offline"]) == 0
    logged = sorted(p.name.split("_")[0] for p in (tmp_path / "wandb").glob("offline-run-*/files/media/images/report/*.png"))
    assert logged == ["accuracy"]
