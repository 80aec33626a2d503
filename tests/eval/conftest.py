"""A tiny model trained for a few steps on the test corpus, so its greedy accuracy is neither 0 nor 1."""

from pathlib import Path

import pytest

from tests.fixtures import pretrain_on_corpus


@pytest.fixture(scope="session")
def trained_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return pretrain_on_corpus(tiny_model_dir, tmp_path_factory.mktemp("trained_model"), steps=15)
