"""Plugin options are declared once, in the constructors: docs/plugins.md's table and the YAML groups agree with them."""

import re
from pathlib import Path

import yaml

from rpt.config import CONFIG_DIR, PLUGIN_GROUPS
from rpt.registry import available, defaults

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def documented() -> dict[tuple[str, str], dict]:
    """(kind, plugin) -> {option: default} from the table's rows `| kind | `plugin` | `option` | `default` | ... |`."""
    table: dict[tuple[str, str], dict] = {}
    for kind, name, option, default in re.findall(r"^\| (\w+) \| `(\w+)` \| `(\w+)` \| `([^`]*)` \|", DOC.read_text(), re.M):
        table.setdefault((kind, name), {})[option] = yaml.safe_load(default)
    return table


def test_the_docs_table_is_the_constructors():
    expected = {(kind, name): defaults(info.load()) for kind in PLUGIN_GROUPS for name, info in available(kind).items()}
    assert documented() == {key: options for key, options in expected.items() if options}
    assert documented()[("rollout", "vllm")]["gpu_memory_utilization"] == 0.3  # the table was read


def test_yaml_groups_repeat_no_constructor_default():
    for kind in PLUGIN_GROUPS:
        for path in (CONFIG_DIR / kind).glob("*.yaml"):
            preset = yaml.safe_load(path.read_text())
            own = defaults(available(kind)[preset.pop("name")].load())
            assert {k: v for k, v in preset.items() if own.get(k, object()) == v} == {}, path
