"""The layers of the library, enforced from the imports of every module in ``src/``.

From the bottom up (each layer imports only its own and lower layers):

0. foundation: ``errors``, ``validation``, ``priors``, ``_version``;
1. data containers: ``containers/``, ``datasets/``, the simulators (``simulate``);
2. result objects: ``results``, ``results_mle``, ``_datatree`` (the contract every fit returns);
3. models: ``models/`` (array maths, samplers, model classes; ``fit`` builds a result);
4. command line: ``cli/`` (the only place that parses arguments or prints).

The package's ``__init__`` is a facade above everything.  Data flow through the
layers is containers -> models -> results -> command line; the result objects
sit below the models in the import order because the models build them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "casualty_models"

#: top-level module or sub-package -> layer
LAYERS = {
    "_version": 0, "errors": 0, "validation": 0, "priors": 0,
    "containers": 1, "datasets": 1, "simulate": 1, "deaths": 1,
    "results": 2, "results_mle": 2, "_datatree": 2,
    "models": 3, "sensitivity": 3,
    "cli": 4,
    "__init__": 5,
}
NAMES = {0: "foundation", 1: "containers", 2: "results", 3: "models", 4: "cli", 5: "facade"}
#: libraries only the command line may import
CLI_ONLY = {"argparse"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts == [PKG]:
        return LAYERS["__init__"]
    top = parts[1]
    if top not in LAYERS:
        raise AssertionError(
            f"module {module} is in no layer: add {top!r} to LAYERS in tests/test_layering.py "
            "(and to ARCHITECTURE.md)")
    return LAYERS[top]


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every run-time import, nested ones included."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import a, b
                    out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
                    continue
            else:
                target = node.module or ""
            out.append((node.lineno, target))
    return out


FILES = sorted(SRC.joinpath(PKG).rglob("*.py"))


def test_every_module_is_in_a_layer():
    assert len(FILES) > 20
    for f in FILES:
        _layer(_module_name(f))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_never_go_upward(path):
    me = _module_name(path)
    mine = _layer(me)
    bad = []
    for line, target in _imports(path):
        if target.split(".")[0] in CLI_ONLY and mine < LAYERS["cli"]:
            bad.append(f"line {line}: imports {target} (only cli/ may)")
        if target == PKG or not target.startswith(PKG + "."):
            continue
        theirs = _layer(target)
        if theirs > mine:
            bad.append(f"line {line}: {NAMES[mine]} module imports {target} ({NAMES[theirs]})")
    assert not bad, f"{me}: " + "; ".join(bad)


def test_models_never_print():
    for f in sorted(SRC.joinpath(PKG, "models").rglob("*.py")):
        calls = [n.lineno for n in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id == "print"]
        assert not calls, f"{f.name} calls print() at lines {calls}: printing belongs in cli/"
