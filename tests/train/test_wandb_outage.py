"""logger.wandb.mode=online without W&B: training runs, with one warning line, logging offline."""

import csv
import logging

import pytest

from rpt.cli import main

DUMMY_KEY = "0123456789" * 4


@pytest.mark.parametrize("outage", ["no_api_key", "no_network"])
def test_training_runs_through_a_wandb_outage(train_args, tmp_path, monkeypatch, caplog, outage):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc credentials
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    if outage == "no_api_key":
        monkeypatch.delenv("WANDB_API_KEY", raising=False)
    else:  # a key, but the network is patched away: wandb.init fails as it does after its timeout
        import wandb
        from wandb.errors import CommError

        real_init = wandb.init

        def offline_only(*args, **kwargs):
            if kwargs.get("mode") == "online":
                raise CommError('Timed out while retrying: Post "https://api.wandb.ai/graphql": connection refused')
            return real_init(*args, **kwargs)

        monkeypatch.setenv("WANDB_API_KEY", DUMMY_KEY)
        monkeypatch.setattr(wandb, "init", offline_only)
    with caplog.at_level(logging.WARNING, logger="rpt.train.loggers"):
        assert main(["train", *train_args("trainer.max_steps=3", "logger.wandb.mode=online")]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "rpt.train.loggers"]
    assert len(warnings) == 1 and warnings[0].startswith("rpt: warning: W&B is unreachable"), warnings
    with (tmp_path / "run" / "metrics.csv").open(newline="") as f:
        steps = [int(float(r["step"])) for r in csv.DictReader(f) if r.get("train/reward")]
    assert steps == [1, 2, 3]
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
