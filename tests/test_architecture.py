"""The layers mean their names: read from the code's own imports (no import is executed).

cli/ is the command line: it imports Prefect, the flows and the viewer only inside the handlers that
need them. flows/ composes tasks. tasks/ holds only Prefect tasks (and the flow hooks and retry
conditions they need), each around plain nnmodel calls. nnmodel/ is the plain library: it never
imports Prefect, the command line, the flows, the tasks or the viewer, and inside it the sub-packages
use only the ones below them (LIBRARY_LAYERS). gui/ never imports Prefect or the command line. No
module-level import cycle anywhere.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nnmodel", "tasks", "flows", "cli", "gui")
# nnmodel's rooms, lowest first: each may use the ones before it, never one after it
LIBRARY_LAYERS = (("errors", "progress", "atomic", "reject"), ("images",), ("model",), ("store",), ("data",),
                  ("explain",), ("reports",), ("batch", "training", "api"))


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
    assert not roots(imports(MODULES[name])) & {"prefect", "prefect_dask", "cli", "flows", "tasks", "gui", "tkinter"}


def layer_of(name: str) -> int | None:
    """The LIBRARY_LAYERS index of an nnmodel module (None for the package itself)."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    return next(i for i, room in enumerate(LIBRARY_LAYERS) if parts[1] in room)


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("nnmodel.")])
def test_each_room_of_the_library_uses_only_the_rooms_below_it(name):
    own = layer_of(name)
    above = {dep for dep in imports(MODULES[name]) if dep.startswith("nnmodel.") and dep in MODULES
             and layer_of(dep) > own}
    assert not above, f"{name} (layer {own}) uses {sorted(above)}"


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("gui")])
def test_the_viewer_never_uses_prefect_or_the_command_line(name):
    assert not roots(imports(MODULES[name])) & {"prefect", "cli", "flows", "tasks"}


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


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("flows.")])
def test_flows_compose_tasks(name):
    used = imports(MODULES[name])
    assert roots(used) <= {"__future__", "prefect", "tasks", "nnmodel"}
    assert {n for n in used if n.startswith("nnmodel")} <= {"nnmodel.progress", "nnmodel.progress.BatchProgress"}


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("cli")])
def test_the_command_line_loads_prefect_flows_and_the_viewer_only_when_a_command_needs_them(name):
    assert not roots(imports(MODULES[name], top_level_only=True)) & {"prefect", "prefect_dask", "flows", "tasks",
                                                                     "gui", "tkinter"}


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


def test_one_image_reaches_its_csv_row_along_the_files_architecture_names():
    """docs/ARCHITECTURE.md: flows/predict -> tasks/predict -> nnmodel/batch/classify -> nnmodel/images/
    preprocess (-> decode, paper) and the model (loaded by nnmodel/model/modelfile) -> nnmodel/batch/parts."""
    path = [("flows.predict", "tasks.predict"), ("tasks.predict", "nnmodel.batch.classify"),
            ("nnmodel.batch.classify", "nnmodel.images.preprocess"),
            ("nnmodel.images.preprocess", "nnmodel.images.decode"),
            ("nnmodel.batch.classify", "nnmodel.model.modelfile"), ("nnmodel.batch.classify", "nnmodel.batch.parts")]
    for source, target in path:
        assert any(n == target or n.startswith(target + ".") for n in imports(MODULES[source])), (source, target)
    preprocess = imports(MODULES["nnmodel.images.preprocess"])
    assert {n for n in preprocess if n in MODULES} <= {"nnmodel.errors", "nnmodel.images.decode",
                                                       "nnmodel.images.paper"}


def test_the_rest_of_the_house_knows_no_model_family():
    """Only the model package names a family's class: everything else goes through the protocol
    (nnmodel.model.base) and the families table."""
    family_modules = {"nnmodel.model.mlp", "nnmodel.model.logistic"}
    for name, path in MODULES.items():
        if name.startswith("nnmodel.model"):
            continue
        used = {n for n in imports(path) if any(n == m or n.startswith(m + ".") for m in family_modules)}
        assert not used, f"{name} imports a model family directly: {sorted(used)}"
