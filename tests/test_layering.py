"""The import direction of DESIGN.md: the math imports nothing of training, tools or I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gdlab

PACKAGE_DIR = Path(gdlab.__file__).parent
MATH = ["activations", "losses", "layers", "network"]
#: what each math module may import from gdlab: the math above it, and the argument checks
ALLOWED = {
    "activations": {"_checks"},
    "losses": {"_checks", "activations"},
    "layers": {"_checks", "activations"},
    "network": {"_checks", "activations", "losses", "layers"},
}
#: third-party and standard-library modules that mean I/O, plotting or the compiled executor
IO = {"pandas", "matplotlib", "numba", "json", "pickle", "io", "os", "pathlib", "csv",
      "shutil", "tempfile", "sys", "rich", "sklearn"}


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(gdlab modules, other top-level modules) imported anywhere in the module's source."""
    tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: from . import x / from .x import y
                internal.update(node.module.split(".")[:1] if node.module else
                                [alias.name for alias in node.names])
                continue
            names = [node.module or ""]
            if node.module == "gdlab":
                names = [f"gdlab.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "gdlab":
                internal.add(parts[1] if len(parts) > 1 else "")
            else:
                external.add(parts[0])
    return internal, external


@pytest.mark.parametrize("module", MATH)
def test_math_modules_import_only_the_math_above_them(module):
    internal, _ = _imports(module)
    assert internal <= ALLOWED[module], f"{module} imports {sorted(internal - ALLOWED[module])}"


@pytest.mark.parametrize("module", MATH)
def test_math_modules_do_no_io(module):
    _, external = _imports(module)
    assert not external & IO, f"{module} imports {sorted(external & IO)}"


def test_the_checker_sees_imports(tmp_path, monkeypatch):
    """The AST walk finds imports inside functions too (so the tests above can fail)."""
    (tmp_path / "fake.py").write_text(
        "import numpy as np\nfrom gdlab import training\n"
        "def f():\n    import pandas\n    from gdlab.callbacks import History\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", tmp_path)
    assert _imports("fake") == ({"training", "callbacks"}, {"numpy", "pandas"})


def test_importing_gdlab_does_not_load_the_compiled_executor_or_plots():
    code = ("import sys, gdlab; print(sorted(m for m in ('numba', 'matplotlib') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
