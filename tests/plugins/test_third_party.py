"""The example reward of docs/plugins.md, as a third party would ship it: it runs with nothing but `rpt.api`."""

import ast
import re
import sys
from pathlib import Path

import pytest

from rpt.registry import build
from tests.plugins.test_rewards import DOLLARS

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
MODULE = "third_party_reward"  # a name no other test imports


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    source = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    (tmp_path / f"{MODULE}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield source
    sys.modules.pop(MODULE, None)


def test_the_documented_plugin_needs_only_the_plugin_api(third_party):
    imports = {n.module for n in ast.walk(ast.parse(third_party)) if isinstance(n, ast.ImportFrom)}
    assert {m for m in imports if m.startswith("rpt")} == {"rpt.api"}
    reward = build("reward", {"name": f"{MODULE}.LongAnswerBonus", "bonus": 0.2})
    # " 12" | " dollars" | ".": one, two and three whole tokens, half a token, no answer
    result = reward([" 12", " 12 dollars", " 12 dollars.", " 1", None], [DOLLARS] * 5, group_size=5)
    assert result.values.tolist() == pytest.approx([0.5, 0.7, 0.9, 0.0, 0.0])
