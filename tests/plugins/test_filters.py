"""Token filters: entropy keeps the hard positions, random keeps as many at random, all keeps all."""

import logging

import numpy as np
import pytest
from omegaconf import OmegaConf

from rpt.data.corpus import TokenizedCorpus
from rpt.data.tasks import select_tasks
from rpt.errors import RptError
from rpt.registry import build

ENTROPIES = np.array([0.1, 2.0, np.nan, 0.5, 1.2, 0.49, 2.7, 0.5, np.nan, 1.0])
POSITIONS = np.arange(10, 20)


def run(cfg, entropies=ENTROPIES, seed=0):
    return build("filter", cfg)(POSITIONS[: len(entropies)], entropies, np.random.default_rng(seed))


def test_entropy_threshold_keeps_positions_at_or_above_it():
    assert run({"name": "entropy", "threshold": 0.5}).tolist() == [1, 3, 4, 6, 7, 9]


def test_entropy_top_fraction_keeps_the_highest_scored_positions():
    # 8 scored positions; 30% -> ceil(2.4) = 3: entropies 2.7, 2.0, 1.2
    assert run({"name": "entropy", "top_fraction": 0.3}).tolist() == [1, 4, 6]


@pytest.mark.parametrize("setting", [{"threshold": 0.5}, {"threshold": 1.5}, {"top_fraction": 0.3}, {"top_fraction": 1.0}])
def test_random_keeps_as_many_as_entropy_at_the_same_setting(setting):
    rng = np.random.default_rng(7)
    entropies = np.where(rng.random(500) < 0.1, np.nan, rng.gamma(2.0, 0.5, 500))
    hard = run({"name": "entropy", **setting}, entropies)
    control = run({"name": "random", **setting}, entropies)
    assert len(control) == len(hard) > 0
    assert np.isfinite(entropies[control]).all() and (np.diff(control) > 0).all()


def test_random_is_seeded_and_uniform_over_scored_positions():
    setting = {"name": "random", "threshold": 1.0}  # entropy keeps 4 of the 8 scored positions
    assert run(setting, seed=3).tolist() == run(setting, seed=3).tolist()
    control = build("filter", setting)
    counts = np.zeros(len(ENTROPIES))
    for seed in range(4000):
        counts[control(POSITIONS, ENTROPIES, np.random.default_rng(seed))] += 1
    scored = np.isfinite(ENTROPIES)
    assert counts[~scored].sum() == 0
    # each scored position is kept with probability 4/8; 4000 draws -> sd ~32 around 2000
    assert np.abs(counts[scored] - 2000).max() < 160


def test_all_keeps_everything_even_unscored():
    assert run({"name": "all"}).tolist() == list(range(10))


def test_entropy_without_any_scores_is_a_user_error():
    with pytest.raises(RptError, match="rpt score"):
        run({"name": "entropy", "threshold": 0.5}, np.full(4, np.nan))


@pytest.mark.parametrize("options", [{}, {"threshold": 1.0, "top_fraction": 0.2}, {"top_fraction": 1.5}])
def test_bad_settings_are_user_errors(options):
    with pytest.raises(RptError):
        build("filter", {"name": "entropy", **options})


def test_select_tasks_keeps_high_entropy_rows_and_logs_the_share(caplog):
    corpus = TokenizedCorpus(["a", "b"], [np.arange(6), np.arange(4)], [np.arange(1, 7), np.arange(1, 5)], "k")
    entropies = [np.array([np.nan, 0.2, 0.9, 1.4, 0.1, 2.0]), np.array([np.nan, 1.1, 0.3, 0.8])]
    cfg = OmegaConf.create({"data": {"val_fraction": 0.0, "seed": 0, "min_context_tokens": 1}})
    with caplog.at_level(logging.INFO):
        rows = select_tasks(cfg, corpus, "train", build("filter", {"name": "entropy", "threshold": 0.85}), entropies)
    assert rows.tolist() == [[0, 2], [0, 3], [0, 5], [1, 1]]
    assert "kept 4 of 8 positions (50.0%)" in caplog.text
