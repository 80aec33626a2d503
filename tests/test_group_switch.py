"""Switching a plugin group on the command line does not inherit the keys an experiment set for its own option."""

from omegaconf import OmegaConf

from rpt.config import load_config
from rpt.registry import build


def test_experiment_demo_with_another_filter_builds_it():
    cfg = load_config(["experiment=demo", "filter=all"])
    assert OmegaConf.to_container(cfg.filter) == {"name": "all"}
    build("filter", cfg.filter)  # the demo's threshold would be an unknown option of `all`


def test_the_switched_group_keeps_its_own_defaults_and_the_command_lines_keys():
    cfg = load_config(["experiment=demo", "filter=random", "filter.threshold=2.0"])
    assert OmegaConf.to_container(cfg.filter) == {"name": "random", "threshold": 2.0}  # options not set stay with the constructor
    cfg = load_config(["filter=random", "experiment=demo"])  # order does not matter
    assert cfg.filter.threshold == 0.5  # random's own default, not the demo's 1.5 for entropy


def test_choosing_the_experiments_own_option_keeps_its_settings():
    assert load_config(["experiment=demo", "filter=entropy"]).filter.threshold == 1.5
    assert load_config(["experiment=demo"]).filter.threshold == 1.5
    assert load_config(["experiment=demo", "reward=exact_match"]).filter.threshold == 1.5  # other groups untouched
