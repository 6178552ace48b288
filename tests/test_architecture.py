"""The layers mean their names: read from the code's own imports (no import is executed).

nnmodel/ is the plain library: it never imports Prefect, flows, tasks or gui. tasks/ holds only Prefect
tasks (and the flow hooks and retry conditions they need), each around plain nnmodel calls. flows/
(beside its cli/) composes tasks. gui/ never imports Prefect. No module-level import cycle anywhere.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nnmodel", "tasks", "flows", "gui")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Absolute module names imported by a file (anywhere, or only at module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def roots(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


MODULES = modules()


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("nnmodel")])
def test_the_plain_library_imports_no_framework(name):
    assert not roots(imports(MODULES[name])) & {"prefect", "prefect_dask", "flows", "tasks", "gui", "tkinter"}


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("gui")])
def test_the_viewer_never_uses_prefect(name):
    assert not roots(imports(MODULES[name])) & {"prefect", "flows", "tasks"}


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("tasks.")])
def test_tasks_hold_only_prefect_tasks(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert roots(imports(MODULES[name])) <= {"__future__", "prefect", "nnmodel"}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            decorated = any("task" in ast.unparse(d) for d in node.decorator_list)
            hook = node.args.args and [a.arg for a in node.args.args[:3]] in (
                ["flow", "flow_run", "state"], ["task", "task_run", "state"])
            assert decorated or hook, f"{name}.{node.name} is neither a task nor a state hook"
        else:
            assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)), f"{name}: {ast.unparse(node)[:60]}"


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("flows.") and not n.startswith("cli")])
def test_flows_compose_tasks(name):
    used = imports(MODULES[name])
    assert roots(used) <= {"__future__", "prefect", "tasks", "nnmodel"}
    assert {n for n in used if n.startswith("nnmodel")} <= {"nnmodel.progress", "nnmodel.progress.BatchProgress"}


def test_no_module_level_import_cycle():
    graph = {name: {dep for dep in (imports(path, top_level_only=True)) if dep in MODULES and dep != name}
             for name, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "open"
        for dep in graph[node]:
            if state.get(dep) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(dep):], dep]))
            if dep not in state:
                visit(dep, [*trail, dep])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_one_image_reaches_its_csv_row_through_five_files():
    """flows/predict -> tasks/predict -> nnmodel/batch -> nnmodel/images/preprocess -> nnmodel/model/mlp."""
    path = [("flows.predict", "tasks.predict"), ("tasks.predict", "nnmodel.batch"),
            ("nnmodel.batch", "nnmodel.images.preprocess"), ("nnmodel.batch", "nnmodel.model.modelfile")]
    for source, target in path:
        assert any(n == target or n.startswith(target + ".") for n in imports(MODULES[source])), (source, target)
    preprocess = imports(MODULES["nnmodel.images.preprocess"])
    assert not {n for n in preprocess if n.startswith("nnmodel")} - {"nnmodel.errors", "nnmodel.errors.DataError"}
