"""Every shipped config composes, and every plugin it names can be built."""

from pathlib import Path

import pytest

from rpt.config import CONFIG_DIR, load_config
from rpt.registry import build

GROUP_FILES = sorted(p for p in CONFIG_DIR.glob("*/*.yaml") if p.parent.name in
                     ("model", "data", "reward", "filter", "rollout", "strategy", "trainer", "experiment"))


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: f"{p.parent.name}={p.stem}")
def test_config_composes(path: Path):
    cfg = load_config([f"{path.parent.name}={path.stem}"])
    for kind in ("reward", "filter", "rollout"):
        build(kind, cfg[kind])


@pytest.mark.parametrize("env, name", [
    ({"SLURM_JOB_ID": "4242"}, "slurm-4242"),
    ({"TORCHELASTIC_RUN_ID": "b7e1"}, "torchrun-b7e1"),
])
def test_default_run_dir_is_named_by_the_launcher_so_every_rank_agrees(monkeypatch, env, name):
    for key in ("SLURM_JOB_ID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_config().run.dir == f"runs/{name}"


def test_default_run_dir_is_the_time_and_stays_fixed_within_a_config(monkeypatch):
    import re
    import time

    for key in ("SLURM_JOB_ID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")  # torchrun's id when none was given: not shared
    cfg = load_config()
    first = cfg.run.dir
    assert re.fullmatch(r"runs/\d{8}-\d{6}", first)
    time.sleep(1.1)
    assert cfg.run.dir == first


def test_every_config_group_is_packaged_into_the_wheel():
    """A wheel installs configs/ as rpt/configs: a group folder missing from pyproject would be left out."""
    import tomllib

    setuptools = tomllib.loads((CONFIG_DIR.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    groups = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir())
    assert setuptools["package-dir"]["rpt.configs"] == "configs"
    for package in ["rpt.configs", *(f"rpt.configs.{g}" for g in groups)]:
        assert package in setuptools["packages"], package
        assert setuptools["package-data"][package] == ["*.yaml"], package
