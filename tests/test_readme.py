"""The README's Python examples run, and print the numbers their comments promise."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})  # noqa: S102
    printed = out.getvalue()
    for promised in re.findall(r"#\s*(\[[^\]]*\][^\n;]*)", BLOCKS[index]):
        first = promised.split(";")[0].split(":")[0].strip()
        assert first in printed, f"README promises {first!r}; the code printed:\n{printed}"
