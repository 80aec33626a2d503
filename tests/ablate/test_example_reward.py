"""The examples/ reward plugin: its scores by hand, and as an axis of an ablation next to a built-in reward."""

from __future__ import annotations

import csv

import pytest
import torch

from rpt.ablate.runner import run_ablation
from rpt.data.tasks import NTPTask
from rpt.errors import RptError
from rpt.registry import build

NAME = "examples.rewards.near_digit.NearDigit"


def _task(target: str) -> NTPTask:
    return NTPTask(0, 1, (1,), "x", (2,), target, (len(target.encode()),))


def test_near_digit_scores_by_hand():
    reward = build("reward", {"name": NAME, "partial": 0.9})
    answers = [" 8", " 8.", " 7", " 0", "8", " x", None, ""]
    result = reward(answers, [_task(" 8")] * len(answers), group_size=len(answers))
    # right (with or without more text), near (|7 - 8| = 1), far (|0 - 8| = 8), digit without its space, no digit
    expected = [1.0, 1.0, 0.9 * (1 - 1 / 9), 0.9 * (1 - 8 / 9), 0.9, 0.0, 0.0, 0.0]
    assert result.values.tolist() == pytest.approx(expected)
    assert result.metrics["near_share"] == pytest.approx(3 / 8)
    assert build("reward", {"name": NAME})([" 9"], [_task(" a")], 1).values.tolist() == [0.0]


def test_a_bad_option_is_refused():
    with pytest.raises(RptError, match="partial"):
        build("reward", {"name": NAME, "partial": 2.0})


@pytest.mark.slow
def test_the_example_reward_is_one_axis_value_of_an_ablation(train_args, tmp_path):
    torch.set_num_threads(1)
    root = run_ablation(train_args(f"reward.name=prefix_match,{NAME}", "trainer.max_steps=1", "eval.dtype=float32",
                                   run="ablation"))
    with (root / "ablation.csv").open(newline="") as f:
        rows = {row["cell"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["reward.name=prefix_match", f"reward.name={NAME}"]
    run = root / "cells" / f"reward.name={NAME}" / "seed-0"
    assert f"name: {NAME}" in (run / "config.yaml").read_text()
    assert "reward/near_share" in (run / "metrics.csv").read_text().splitlines()[0]
