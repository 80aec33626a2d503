"""The README and the docs/ pages against the code: the plugin example runs, links and paths resolve,
the package map covers the package, and the `rpt plan` printout is what `rpt plan` prints.

`mkdocs build --strict` (a CI stage) checks the site's own links; these checks also cover README.md,
which the site leaves out, and the code paths the pages name in code spans.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from rpt.cli import main
from rpt.config import load_config
from rpt.data.tasks import NTPTask
from rpt.registry import PluginInfo, build

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
CODE_DIRS = ("rpt", "plugins", "configs", "benchmarks", "examples", "tests", ".ci", "docs")


def fenced(path: Path, lang: str) -> list[str]:
    """The bodies of a markdown file's ```lang blocks."""
    return re.findall(rf"^```{lang}\n(.*?)^```", path.read_text(), flags=re.M | re.S)


def prose(text: str) -> str:
    """The text outside fenced blocks (their `#` comments are not headings, their paths are examples)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def slug(heading: str) -> str:
    """A heading's anchor as GitHub and mkdocs' toc both make it (for the headings used here)."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.+)$", prose(path.read_text()), flags=re.M)}


def write_readme_reward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The README's python block as `mypkg/rewards.py` on sys.path; returns its command-line overrides."""
    (code,) = fenced(README, "python")
    (package := tmp_path / "mypkg").mkdir()
    (package / "__init__.py").write_text("")
    (package / "rewards.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    (yaml_block,) = [b for b in fenced(README, "yaml") if "reward:" in b]
    return re.search(r"on the command line: (.+)$", yaml_block, flags=re.M).group(1).split()


def test_readme_reward_example_is_built_from_its_config_and_scores_by_its_docstring(tmp_path, monkeypatch):
    command_line = write_readme_reward(tmp_path, monkeypatch)
    (yaml_block,) = [b for b in fenced(README, "yaml") if "reward:" in b]
    (entry_points,) = [b for b in fenced(README, "toml") if "rpt.rewards" in b]
    (target,) = re.findall(r'^\w+ = "([^"]+)"$', entry_points, flags=re.M)

    from_yaml = build("reward", OmegaConf.create(yaml_block).reward)
    from_cli = build("reward", load_config(command_line).reward)
    assert type(from_yaml) is type(from_cli) is PluginInfo("reward", "example", target).load()
    assert from_yaml.near == from_cli.near == 0.25

    # ground truth " cat" " sat" "." (UTF-8 prefix lengths 4, 8, 9): exact 1, up to spaces/case `near`
    truth = NTPTask(0, 1, (1,), "The", (5, 6, 7), " cat sat.", (4, 8, 9))
    answers = [" cat", "cat", " CAT ", " cat sat", " dog", "", None]
    result = from_yaml(answers, [truth] * len(answers), group_size=len(answers))
    assert result.values.tolist() == [1.0, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0]
    assert result.metrics == {"full": pytest.approx(1 / 7)}
    assert result.values.dtype == torch.float32


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_relative_links_reach_a_file_and_its_heading(path):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(path.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https://, mailto:
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(target)
        elif anchor and anchor not in anchors(resolved):
            broken.append(target)
    assert not broken, f"{path.name}: broken links {broken}"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_code_paths_and_dotted_names_in_code_spans_exist(path):
    spans = re.findall(r"`([^`\n]+)`", prose(path.read_text()))
    paths = [s for s in spans if re.fullmatch(rf"({'|'.join(map(re.escape, CODE_DIRS))})/[\w./-]*", s)]
    missing = [p for p in paths if not (ROOT / p).exists()]
    # dotted names of two or more levels below rpt (a module, or a function/class in one)
    dotted = {re.sub(r"\(.*\)$", "", s) for s in spans if re.fullmatch(r"rpt(\.\w+){2,}(\(.*\))?", s)}
    missing += [name for name in sorted(dotted) if not _resolves(name)]
    assert not missing, f"{path.name} names what does not exist: {missing}"


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_package_map_names_every_top_level_module_and_package():
    section = README.read_text().split("## Package map", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.M))
    package = {f"rpt/{p.name}" for p in (ROOT / "rpt").glob("*.py") if p.name != "__init__.py"}
    package |= {f"rpt/{p.name}/" for p in (ROOT / "rpt").iterdir() if (p / "__init__.py").exists()}
    assert package <= rows, f"add to the README's package map: {sorted(package - rows)}"
    assert all((ROOT / row).exists() for row in rows), [row for row in rows if not (ROOT / row).exists()]


def test_the_plan_printout_in_scaling_md_is_what_rpt_plan_prints(capsys):
    page = ROOT / "docs" / "scaling.md"
    (dump,) = [b for b in fenced(page, "text") if b.startswith("$ rpt plan")]
    command, printed = dump.split("\n", 1)
    assert main(command.split()[2:]) == 0  # "$ rpt plan ..."
    assert capsys.readouterr().out == printed

    # the 8-node numbers quoted in prose
    assert main(["plan", "experiment=paper_14b", "trainer.num_nodes=8"]) == 0
    out = capsys.readouterr().out
    quoted = re.search(r"trainer\.num_nodes=8`.*?of 80\.", prose(page.read_text()), flags=re.S).group(0)
    for label in ("held through the step", "parameters (float32", "optimizer state (", "training step peak", "rollout peak"):
        value = re.search(rf"{re.escape(label)}.*?(\d+\.\d\d)", out).group(1)
        assert value in quoted, (label, value)
