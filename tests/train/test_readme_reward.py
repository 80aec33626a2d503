"""The README's Reward example trains when named on the command line as the README says."""

import csv

from rpt.config import load_config
from rpt.train.run import train
from tests.test_docs import write_readme_reward


def test_the_readme_reward_trains_and_logs_its_metric(train_args, tmp_path, monkeypatch):
    command_line = write_readme_reward(tmp_path, monkeypatch)
    result = train(load_config(train_args(*command_line)))
    rows = [r for r in csv.DictReader(result.metrics_csv.open()) if r.get("train/reward")]
    assert len(rows) == 2  # trainer.max_steps=2
    for row in rows:
        # values are 1 (share `reward/full`), 0.25 (`near=0.25`) or 0, so their mean lies in between
        full, mean = float(row["reward/full"]), float(row["train/reward"])
        assert full - 1e-6 <= mean <= full + 0.25 * (1 - full) + 1e-6, row
