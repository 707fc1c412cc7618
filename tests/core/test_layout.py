"""The code's layout: no import cycles, and the run folder's names and states spelled in one module."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from core.runs import rundir
from core.runs.rundir import RunDir, RunState

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "screens", "workbench")
SPELLER = "core/runs/rundir.py"
# (file, literal) pairs that happen to equal a run name but are not about runs
NOT_ABOUT_RUNS = {
    ("core/model/vision.py", RunDir.CHECKPOINTS): "torch hub's own checkpoints folder",
    ("core/runs/tensorboard_server.py", RunDir.TENSORBOARD): "the program's name in its argv",
    ("screens/classify.py", RunDir.CHECKPOINTS): "a widget id and a worker group",
    ("screens/runs.py", RunDir.TENSORBOARD): "an action name and a worker group",
}


def sources() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules `name` imports anywhere in its file, function-level imports included.

    Imports under `if TYPE_CHECKING:` are left out: they never run, they only name types.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found |= {f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module for alias in node.names}
    return found & known - {name}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles_even_through_function_level_imports() -> None:
    modules = sources()
    graph = {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def run_names() -> set[str]:
    """The run folder's file names and the run states, as rundir.py spells them."""
    names = {value for key, value in vars(RunDir).items() if key.isupper() and isinstance(value, str)}
    names |= {RunDir(Path()).checkpoint_path(kind).name for kind in RunDir.CHECKPOINT_KINDS}
    return names | {rundir.LAUNCHES} | {state.value for state in RunState}


def docstrings(tree: ast.AST) -> set[ast.AST]:
    """The docstring constants of a module, its classes and its functions."""
    return {node.body[0].value for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def test_run_names_and_states_are_spelled_only_in_rundir() -> None:
    names = run_names()
    found = []
    for path in sources().values():
        where = path.relative_to(ROOT).as_posix()
        if where == SPELLER:
            continue
        tree = ast.parse(path.read_text(), str(path))
        skipped = docstrings(tree)
        found += [f"{where}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names and node not in skipped
                  and (where, node.value) not in NOT_ABOUT_RUNS]
    assert found == []


def test_rundir_depends_on_the_standard_library_alone() -> None:
    tree = ast.parse((ROOT / SPELLER).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name.split(".")[0] for name in imported} - sys.stdlib_module_names == set()
