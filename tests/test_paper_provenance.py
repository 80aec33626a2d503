"""docs/paper.md's settings table matches the composed `experiment=paper_14b` config, key by key."""

import re
from pathlib import Path

import yaml

from rpt.cli import main

PAGE = Path(__file__).resolve().parents[1] / "docs" / "paper.md"
ROW = re.compile(r"^\|(?P<setting>[^|]+)\|(?P<paper>.+)\| `(?P<key>[a-z_.]+)` \| `(?P<value>[^`]*)` \|$")


def settings_rows() -> list[tuple[str, object]]:
    """(key, value) of every row of the page's first table, the settings of paper_14b."""
    section = PAGE.read_text(encoding="utf-8").split("## Settings of `experiment=paper_14b`")[1].split("\n\n")[1]
    lines = [line for line in section.splitlines() if line.startswith("|")][2:]  # after header and rule
    rows = []
    for line in lines:
        match = ROW.match(line)
        assert match, f"docs/paper.md settings row without a `key` and a `value`: {line}"
        rows.append((match["key"], yaml.safe_load(match["value"])))
    return rows


def select(config: dict, key: str):
    node = config
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, f"docs/paper.md names {key!r}, which the config lacks"
        node = node[part]
    return node


def test_every_setting_on_the_page_is_the_composed_paper_config(capsys):
    assert main(["config", "show", "experiment=paper_14b"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    rows = settings_rows()
    assert len(rows) >= 35 and len({key for key, _ in rows}) == len(rows)
    mismatches = {key: (value, select(config, key)) for key, value in rows if select(config, key) != value}
    assert not mismatches, f"docs/paper.md (page, config) differ: {mismatches}"


def test_the_page_check_catches_a_changed_value(capsys):
    assert main(["config", "show", "experiment=paper_14b", "optim.weight_decay=0.0"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert dict(settings_rows())["optim.weight_decay"] == 0.01 != select(config, "optim.weight_decay")
