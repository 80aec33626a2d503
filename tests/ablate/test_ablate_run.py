"""`rpt ablate` end to end on the tiny model: a 2x2 grid plus the NTP baseline, and a resumed kill."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rpt.ablate.flops import ntp_flops, rpt_run_flops
from rpt.ablate.grid import parse_ablation
from rpt.ablate.runner import claim, run_ablation
from rpt.cli import main
from rpt.config import load_config
from tests.ablate.conftest import files_under
from tests.ablate.crash_reward import CRASH_FLAG

GRID = ["reward=prefix_match,first_token", "filter=entropy,random", "filter.threshold=0.3", "baseline=ntp"]


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["cell"]: row for row in csv.DictReader(f)}


def _column(metrics_csv: Path, column: str) -> list[float]:
    with metrics_csv.open(newline="") as f:
        return [float(r[column]) for r in csv.DictReader(f) if r.get(column)]


@pytest.mark.slow  # about a minute on 2 shared cores: ten runs and evaluations
def test_a_2x2_grid_and_the_ntp_baseline_tabulate_their_own_logs(scored_args, tmp_path):
    torch.set_num_threads(1)
    root = run_ablation(scored_args(*GRID))
    rows = _rows(root / "ablation.csv")
    names = ["reward=prefix_match filter=entropy", "reward=prefix_match filter=random",
             "reward=first_token filter=entropy", "reward=first_token filter=random", "baseline=ntp"]
    assert list(rows) == names
    rpt_flops = []
    for name in names:
        run = root / "cells" / name.replace(" ", "+") / "seed-0"
        row = rows[name]
        result = json.loads((run / "eval" / "standard" / "eval.json").read_text())
        trained = result["comparison"]["second"]
        n_params = result["models"][trained]["n_params"]
        for bucket in ("all", "easy", "hard"):
            assert float(row[f"standard/acc/{bucket}_mean"]) == result["models"][trained]["buckets"][bucket]["accuracy"]
            assert float(row[f"standard/diff/{bucket}_mean"]) == pytest.approx(
                result["comparison"]["buckets"][bucket]["difference"])
        assert float(row["wall_s_mean"]) == json.loads((run / "cell.json").read_text())["wall_s"]
        if name == "baseline=ntp":
            tokens = sum(_column(run / "metrics.csv", "train/tokens"))
            assert float(row["flops_mean"]) == pytest.approx(ntp_flops(n_params, tokens))
            assert row["final_reward_mean"] == "nan"
            assert (run / "policy" / "config.json").exists()
        else:
            # two steps: the final reward is the last step's; the cell's own config says which reward ran
            assert float(row["final_reward_mean"]) == _column(run / "metrics.csv", "train/reward")[-1]
            assert f"name: {name.split()[0].split('=')[1]}" in (run / "config.yaml").read_text()
            flops = rpt_run_flops(n_params, run / "metrics.csv", 1, False)
            assert float(row["flops_mean"]) == pytest.approx(flops)
            rpt_flops.append(flops)
    # the baseline spent the RPT cells' mean compute, overshooting by less than one batch of documents
    base = float(rows["baseline=ntp"]["flops_mean"])
    assert np.mean(rpt_flops) <= base < np.mean(rpt_flops) + ntp_flops(n_params, 4 * 64)
    text = (root / "ablation.md").read_text()
    assert all(f"| {name} | 1 |" in text for name in names)
    assert (root / "reward_curves.png").stat().st_size > 0 and (root / "accuracy_standard.png").stat().st_size > 0


@pytest.mark.slow
def test_a_killed_ablation_resumes_without_redoing_finished_cells(train_args, tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    monkeypatch.setenv(CRASH_FLAG, str(tmp_path / "crashed"))
    args = train_args("reward.name=tests.train.fake_rewards.ParityReward,tests.ablate.crash_reward.CrashOnceReward",
                      "trainer.max_steps=3", "trainer.ckpt_every=1", "eval.dtype=float32", run="ablation")
    with pytest.raises(RuntimeError, match="killed mid-run"):
        run_ablation(args)
    cells = tmp_path / "ablation" / "cells"
    first, second = sorted(cells.iterdir())  # "...CrashOnceReward" sorts before "...ParityReward"
    first, second = (second, first) if "Parity" in second.name else (first, second)
    assert (first / "seed-0" / "eval" / "standard" / "eval.json").exists()
    assert not (second / "seed-0" / "cell.json").exists()
    assert (second / "seed-0" / "checkpoints" / "step-000002.ckpt").exists()
    finished = files_under(first)

    capsys.readouterr()
    run_ablation(args)
    out = capsys.readouterr().out
    assert files_under(first) == finished  # not a file of the finished cell was written again
    assert out.count("done already: skipped") == 1 and "resuming from its last checkpoint" in out
    steps = _column(second / "seed-0" / "metrics.csv", "train/reward")
    assert len(steps) == 3  # steps 1-2 from before the kill, step 3 after it: none twice
    assert (tmp_path / "ablation" / "ablation.md").exists()


def _cheap_args(tmp_path: Path, *extra: str) -> list[str]:
    """Overrides that compose (nothing is loaded before the first cell runs)."""
    return ["model.policy=unused", "data.path=unused.jsonl", f"run.dir={tmp_path / 'ablation'}",
            "logger.wandb.mode=disabled", *extra]


def test_another_grid_in_the_same_folder_is_refused(tmp_path, capsys):
    args = _cheap_args(tmp_path, "reward=prefix_match,first_token")
    root = Path(load_config(_cheap_args(tmp_path)).run.dir)
    claim(root, parse_ablation(args))
    assert main(["ablate", *_cheap_args(tmp_path, "reward=prefix_match,exact_match")]) == 2
    assert "holds another ablation" in capsys.readouterr().err


def test_dry_run_prints_the_grid_and_runs_nothing(tmp_path, capsys):
    assert main(["ablate", "--dry-run", *_cheap_args(tmp_path, "reward=prefix_match,first_token", "seeds=2",
                                                     "baseline=ntp")]) == 0
    out = capsys.readouterr().out
    assert "6 cells" in out and out.count("seed 1") == 3
    assert not (tmp_path / "ablation").exists()


def test_a_bad_axis_value_fails_before_any_cell_runs(tmp_path, capsys):
    assert main(["ablate", *_cheap_args(tmp_path, "reward=prefix_match,no_such_reward")]) == 2
    assert "unknown reward 'no_such_reward'" in capsys.readouterr().err
    assert not (tmp_path / "ablation").exists()


def test_the_time_left_comes_from_the_finished_cells_of_each_kind(tmp_path, capsys):
    args = _cheap_args(tmp_path, "reward=prefix_match,first_token,exact_match", "baseline=ntp")
    assert main(["ablate", "--dry-run", *args]) == 0
    assert "4 cells left; the time of NTP and RPT cells is known once one has finished" in capsys.readouterr().out
    root = tmp_path / "ablation" / "cells"
    for folder, wall in (("reward=prefix_match", 60.0), ("reward=first_token", 120.0), ("baseline=ntp", 30.0)):
        (root / folder / "seed-0").mkdir(parents=True)
        (root / folder / "seed-0" / "cell.json").write_text(json.dumps({"wall_s": wall}))
    assert main(["ablate", "--dry-run", *args]) == 0
    out = capsys.readouterr().out
    assert "done in 120s" in out and "1 cells left: about 1.5 min of training for 1 of them" in out  # (60 + 120) / 2 s
    (root / "baseline=ntp" / "seed-0" / "cell.json").unlink()
    assert main(["ablate", "--dry-run", *args]) == 0
    assert "2 cells left: about 1.5 min of training for 1 of them (the finished cells' mean), plus evaluation; " \
        "the time of NTP cells is known once one has finished" in capsys.readouterr().out


def test_every_cell_has_its_own_run_dir_and_seed_and_one_wandb_group(tmp_path):
    from rpt.ablate.runner import cell_config
    from rpt.train.loggers import build_loggers

    args = _cheap_args(tmp_path, "reward=prefix_match,first_token", "seeds=2", "trainer.seed=10",
                       "logger.wandb.mode=offline")
    spec = parse_ablation(args)
    configs = [cell_config(spec, cell, tmp_path / "ablation") for cell in spec.cells]
    assert [c.run.dir for c in configs] == [
        str(tmp_path / "ablation" / "cells" / f"reward={r}" / f"seed-{s}")
        for r in ("prefix_match", "first_token") for s in (0, 1)]
    assert [(c.reward.name, c.trainer.seed, c.sampling.seed) for c in configs] == [
        ("prefix_match", 10, 0), ("prefix_match", 11, 1), ("first_token", 10, 0), ("first_token", 11, 1)]
    (tmp_path / "run").mkdir()
    wandb = build_loggers(configs[0], tmp_path / "run")[1]
    assert wandb._wandb_init["group"] == "ablation" and {c.logger.wandb.group for c in configs} == {"ablation"}
