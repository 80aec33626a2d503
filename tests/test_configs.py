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
