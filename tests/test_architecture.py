"""The house rules of docs/architecture.md, checked on the source: the import graph of ``qagen/``
(every import statement, at module level or inside a function) has no cycle; no module of the
core imports ``qagen.methods`` or names it in a string; a method imports only the core; and
every name of every registry resolves to what its registry holds."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import qagen
from qagen import registry

PACKAGE = Path(qagen.__file__).resolve().parent
#: the modules above the core: the composition root (qagen/__init__.py names the methods), the
#: command line and the applications that use everything (the demo and the MS-SSIM study)
ABOVE_CORE = ("qagen", "qagen.cli", "qagen.demo", "qagen.demo_page", "qagen.study")


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


MODULES = _modules()


def _absolute(module: str | None, current: str, is_package: bool, level: int) -> str:
    if not level:
        return module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str) -> set[str]:
    """The qagen modules ``name`` imports anywhere in its source (``from pkg import mod`` counts
    as ``pkg.mod`` when that is a module, else as ``pkg``)."""
    path, is_package = MODULES[name]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "qagen"}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, name, is_package, node.level)
            if base.split(".")[0] != "qagen":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


_TARGET = re.compile(r"qagen(\.\w+)+(:[\w.]+)?")


def _targets(path: Path) -> list[str]:
    """String constants of a module that name a module or a ``module:attr`` (docstrings aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }  # fmt: skip
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings and _TARGET.fullmatch(node.value)
    ]  # fmt: skip


def is_core(name: str) -> bool:
    return not _in(name, "qagen.methods") and not any(
        name == a or (a != "qagen" and _in(name, a)) for a in ABOVE_CORE
    )


def test_the_scan_sees_function_level_imports():
    # the run report's loader imports read_config at module level, eval.run imports the
    # registry; qagen.train.recipe imports qagen.data inside Recipe.build_dataset
    assert "qagen.data" in GRAPH["qagen.train.recipe"]
    assert "qagen.registry" in GRAPH["qagen.eval.run"]
    assert len(MODULES) > 100


def test_the_import_graph_has_no_cycle():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_core_never_imports_or_names_the_methods():
    offenders = []
    for name, (path, _) in MODULES.items():
        if not is_core(name):
            continue
        if any(_in(m, "qagen.methods") for m in GRAPH[name]):
            offenders.append(f"{name} imports qagen.methods")
        if any(_in(t.partition(":")[0], "qagen.methods") for t in _targets(path)):
            offenders.append(f"{name} names qagen.methods in a string")
    assert offenders == []


def test_a_method_imports_only_the_core():
    offenders = []
    for name in MODULES:
        if not _in(name, "qagen.methods") or name == "qagen.methods":
            continue
        own = ".".join(name.split(".")[:3])  # qagen.methods.<name>
        for m in GRAPH[name]:
            if (_in(m, "qagen.methods") and not _in(m, own)) or not (is_core(m) or _in(m, own)):
                offenders.append(f"{name} -> {m}")
    assert offenders == []


#: the floors of docs/architecture.md, bottom first: a module imports its own package, or a
#: package on a lower floor (the same floor only within one package)
FLOORS = (
    ("errors", "_version", "files", "_lazy"),
    ("registry",),
    ("_checks", "color", "filters", "io", "report"),
    ("matlab_resize",),
    ("iqa",),
    ("data", "losses", "viz"),
    ("gan",),
    ("train",),
    ("eval",),
    ("experiments",),
    ("methods",),
    ("study", "demo", "demo_page"),
    ("cli",),
)
FLOOR = {package: i for i, floor in enumerate(FLOORS) for package in floor}


def _package(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_is_on_a_floor():
    assert {_package(n) for n in MODULES} - {""} == set(FLOOR)


def test_imports_go_down_the_floors():
    offenders = []
    for name, targets in GRAPH.items():
        if name == "qagen":  # the composition root
            continue
        here = _package(name)
        for m in targets:
            there = _package(m)
            if there != here and not FLOOR.get(there, 99) < FLOOR[here]:
                offenders.append(f"{name} -> {m}")
    assert offenders == []


def test_the_methods_list_names_every_method_folder():
    from qagen.methods import METHODS

    folders = sorted(
        p.name for p in (PACKAGE / "methods").iterdir() if (p / "__init__.py").is_file()
    )
    assert sorted(METHODS) == folders


@pytest.mark.parametrize("kind", sorted(registry.REGISTRIES))
def test_every_registered_name_resolves(kind):
    from qagen.experiments import Experiment
    from qagen.iqa.registry import MetricInfo
    from qagen.train import Recipe

    reg = registry.REGISTRIES[kind]
    assert reg.available(), f"the {kind} registry is empty"
    for name in reg.available():
        target = reg.get(name)
        if reg is registry.RECIPES:
            assert issubclass(target, Recipe) and target.name == name
        elif reg is registry.EXPERIMENTS:
            assert issubclass(target, Experiment) and target.name == name
        elif reg is registry.PRESETS:
            assert Path(target).is_file() and Path(target).stem == name
        elif reg is registry.METRICS:
            assert isinstance(target, MetricInfo) and callable(target.fn)
        elif reg is registry.NETWORKS:
            assert len(target) == 2 and all(inspect.isclass(c) for c in target)
        elif reg is registry.MAP_VIEWS:
            assert name in registry.METRICS
        else:  # data sources, report sections, evaluators
            assert callable(target)
            recipes = reg.entry(name).meta.get("recipes", "*")
            if isinstance(recipes, str) and ":" in recipes:
                assert callable(registry.load_target(recipes))
