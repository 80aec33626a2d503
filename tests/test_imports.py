"""The package's import rules, read from the source (ast), not from what happens to be imported.

- no import cycle between rpt modules (imports inside functions count too: a lazy import only hides one);
- the core never imports a concrete plugin (it finds them through the registry);
- a plugin imports nothing of rpt but the documented plugin API, `rpt.api`;
- a recipe (the demo) is imported by no core module but the command line that runs it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: source folder -> the package it installs as (pyproject's package-dir)
PACKAGES = {"rpt": "rpt", "plugins": "rpt.plugins", "recipes": "rpt.recipes"}
PLUGIN_API = "rpt.api"


def module_name(folder: str, path: Path) -> str:
    parts = path.relative_to(ROOT / folder).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGES[folder], *parts))


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The rpt modules a file imports: `from a.b import c` is a.b.c when that is a module, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names}
    return {name for name in found if name == "rpt" or name.startswith("rpt.")}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(folder, path): path for folder in PACKAGES for path in (ROOT / folder).rglob("*.py")}
    return {name: imported_modules(path, set(files)) for name, path in files.items()}


def is_plugin(module: str) -> bool:
    return module.startswith("rpt.plugins.")


def is_recipe(module: str) -> bool:
    return module.startswith("rpt.recipes.")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert "rpt.api" in graph["rpt.registry"] and "rpt.plugins.rollout.vllm" in graph
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_core_never_imports_a_concrete_plugin():
    graph = import_graph()
    leaks = {m: sorted(filter(is_plugin, deps)) for m, deps in graph.items() if not is_plugin(m) and any(map(is_plugin, deps))}
    assert leaks == {}


def test_only_the_command_line_imports_a_recipe():
    graph = import_graph()
    core = [m for m in graph if not (is_plugin(m) or is_recipe(m) or m == "rpt.recipes")]
    assert {m for m in core if any(map(is_recipe, graph[m]))} == {"rpt.cli"}


def test_plugins_import_only_the_plugin_api():
    graph = import_graph()
    plugins = [m for m in graph if is_plugin(m)]
    assert len(plugins) >= 9
    leaks = {m: sorted(d for d in graph[m] if d != PLUGIN_API) for m in plugins if graph[m] - {PLUGIN_API}}
    assert leaks == {}


def attribute_names(path: Path) -> set[str]:
    """Every `x.name` in a file, as `name`, and `self.name` also as `self.name`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(f"self.{node.attr}")
    return names


def test_the_module_and_its_task_source_know_each_other_one_way():
    graph = import_graph()
    assert "rpt.train.data" in graph["rpt.train.module"] and "rpt.train.module" not in graph["rpt.train.data"]
    assert not {"self.trainer", "lightning_module"} & attribute_names(ROOT / "rpt" / "train" / "data.py")
    assert "datamodule" not in attribute_names(ROOT / "rpt" / "train" / "module.py")
