"""The README's Python examples run, and print every number their comments promise.

A comment on a ``print(...)`` line promises numbers; each of them must appear, to the
decimals written, among the numbers that this very line printed (all its calls, for a print
inside a loop). Measured figures outside the code blocks live between generated markers and
name the command that wrote them.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?![\w}])")


def _numbers(text: str) -> list[str]:
    return [n.replace("−", "-") for n in NUMBER.findall(text)]


def _matches(promised: str, printed: list[str]) -> bool:
    decimals = len(promised.split(".")[1]) if "." in promised else 0
    value = float(promised)
    return any(np.isclose(round(float(p), decimals), value, rtol=0, atol=0.51 * 10**-decimals)
               for p in printed)


def _run(block: str, name: str) -> dict[int, str]:
    """Execute a block; return what each source line printed."""
    printed: dict[int, list[str]] = defaultdict(list)

    def recording_print(*args, **kwargs):
        line = sys._getframe(1).f_lineno
        printed[line].append(" ".join(str(a) for a in args))

    exec(compile(block, name, "exec"), {"print": recording_print})  # noqa: S102
    return {line: "\n".join(texts) for line, texts in printed.items()}


def _promises(block: str) -> dict[int, list[str]]:
    promises = {}
    for number, line in enumerate(block.splitlines(), start=1):
        if "print(" in line and "#" in line:
            comment = line.split("#", 1)[1]
            if found := _numbers(comment):
                promises[number] = found
    return promises


def test_readme_has_python_examples_with_promises():
    assert len(BLOCKS) >= 2
    assert sum(len(_promises(block)) for block in BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_prints_every_promised_number(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = _run(BLOCKS[index], f"README block {index}")
    for line, numbers in _promises(BLOCKS[index]).items():
        output = printed.get(line, "")
        got = _numbers(output)
        missing = [n for n in numbers if not _matches(n, got)]
        assert not missing, (f"README block {index}, line {line} promises {missing}; that "
                             f"line printed:\n{output}")


def test_the_promise_check_can_fail():
    block = "print(1.25)  # 1.25 and 7\n"
    printed = _run(block, "fake")
    got = _numbers(printed[1])
    assert _matches("1.25", got) and not _matches("7", got)


def test_measured_figures_name_the_command_that_wrote_them():
    """Generated blocks carry their command, so anyone can repeat the run."""
    for begin, body in re.findall(r"<!-- ([\w-]+): begin -->(.*?)<!-- \1: end -->", TEXT,
                                  flags=re.S):
        assert "python -m benchmarks" in body or "python scripts/" in body, begin
