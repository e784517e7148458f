"""The layers of DESIGN.md, enforced: who may import whom, no cycles, no I/O in the math.

nn → optim → kernels → io → train → metrics, estimators → show → cli, explorer.
A module may import its own subpackage and any layer above it, never one below; nothing
imports the command line or the explorer but those two entry points (the CLI starts the
explorer). Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gdlab

PACKAGE_DIR = Path(gdlab.__file__).parent

#: the layer of each top-level part of the package (lower imports nothing higher)
LAYER = {"_checks": 0, "_typing": 0, "nn": 1, "optim": 2, "kernels": 3, "io": 4, "train": 5,
         "metrics": 6, "estimators": 7, "show": 8, "cli": 9, "explorer": 9}
#: the exceptions to "only layers above": the CLI's `gdlab explore` starts the explorer
ALSO_ALLOWED = {("cli", "explorer")}
#: third-party and standard-library modules that mean I/O, plotting or the compiled executor
IO = {"pandas", "matplotlib", "numba", "json", "pickle", "io", "os", "pathlib", "csv",
      "shutil", "tempfile", "sys", "rich", "sklearn"}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (``nn.layers``, ``metrics``, ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def _imports(path: Path, package: str = "") -> tuple[set[str], set[str]]:
    """(gdlab modules by dotted name below ``gdlab.``, other top-level modules) imported
    anywhere in the file, functions included. ``package`` resolves relative imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: max(0, len(package.split(".")) - node.level + 1)]
                stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
                internal.update(f"{stem}.{a.name}".strip(".") for a in node.names)
                continue
            module = node.module or ""
            names = ([f"{module}.{alias.name}" for alias in node.names]
                     if module.startswith("gdlab") else [module])
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "gdlab":
                internal.add(".".join(parts[1:]))
            else:
                external.add(parts[0])
    return internal, external


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted import name refers to (``nn.layers.Dense`` → ``nn.layers``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
        if f"{candidate}.__init__" in modules:
            return f"{candidate}.__init__"
    return None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.rsplit(".", 1)[0] if "." in name else ""
        internal, _ = _imports(path, package)
        graph[name] = {target for imported in internal
                       if (target := _resolve(imported, modules)) and target != name}
    return graph


def _top(module: str) -> str:
    return module.split(".")[0]


GRAPH = _graph()


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "__init__"))
def test_each_module_imports_only_its_own_part_and_the_layers_above(module):
    part = _top(module)
    if part not in LAYER:
        pytest.fail(f"{module} is in no layer of DESIGN.md; add it to LAYER or move it")
    wrong = sorted(target for target in GRAPH[module]
                   if _top(target) != part and _top(target) != "__init__"
                   and LAYER.get(_top(target), 99) >= LAYER[part]
                   and (part, _top(target)) not in ALSO_ALLOWED)
    assert not wrong, f"{module} (layer {part}) imports {wrong}: a layer below it"


def test_the_package_imports_neither_the_cli_nor_the_explorer():
    assert not {t for t in GRAPH["__init__"] if _top(t) in ("cli", "explorer")}


def test_no_module_imports_the_package_root_but_the_entry_points():
    """`import gdlab` inside the library would hide the true dependencies."""
    users = sorted(m for m, targets in GRAPH.items()
                   if "__init__" in targets and _top(m) not in ("cli", "explorer", "show"))
    assert not users, f"{users} import the gdlab package root; import the module itself"


def test_there_is_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(GRAPH[node]):
            if target.endswith("__init__") and target != node:
                continue  # a package's __init__ only re-exports its own modules
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if state.get(target) is None and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(GRAPH):
        if state.get(module) is None and (cycle := visit(module)):
            pytest.fail(f"import cycle: {' → '.join(cycle)}")


#: the math a student reads and the rules of a step (gradcheck, a tool, may make a DataFrame)
PURE = sorted(m for m in GRAPH if _top(m) in ("nn", "optim") and m != "nn.gradcheck")


@pytest.mark.parametrize("module", PURE)
def test_the_math_and_the_rules_do_no_io(module):
    _, external = _imports(_modules()[module])
    assert not external & IO, f"{module} imports {sorted(external & IO)}"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_is_over_the_line_budget(module):
    lines = len(_modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= 420, f"{module} has {lines} lines; split it (budget ~400)"


def test_the_checker_sees_imports(tmp_path):
    """The AST walk finds imports inside functions too (so the tests above can fail)."""
    (tmp_path / "fake.py").write_text(
        "import numpy as np\nfrom gdlab.train import model\n"
        "def f():\n    import pandas\n    from gdlab.train.callbacks import History\n"
        "    from . import sibling\n")
    assert _imports(tmp_path / "fake.py", "nn") == (
        {"train.model", "train.callbacks.History", "nn.sibling"}, {"numpy", "pandas"})


def test_the_cycle_check_can_fail(monkeypatch):
    monkeypatch.setitem(GRAPH, "nn.layers", GRAPH["nn.layers"] | {"nn.network"})
    monkeypatch.setitem(GRAPH, "nn.network", GRAPH["nn.network"] | {"nn.layers"})
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_there_is_no_import_cycle()


def test_importing_gdlab_does_not_load_the_compiled_executor_or_plots():
    code = ("import sys, gdlab; print(sorted(m for m in ('numba', 'matplotlib', "
            "'gdlab.cli', 'gdlab.explorer') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_public_submodules_import_as_documented():
    from gdlab import (  # noqa: F401
        activations,
        callbacks,
        estimators,
        lecture,
        losses,
        metrics,
        optimizers,
        plots,
        report,
    )

    assert plots.__name__ == "gdlab.show.plots" and losses.__name__ == "gdlab.nn.losses"
