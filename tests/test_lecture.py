"""gdlab.show.lecture: the lecture's worked examples, computed by the library, and their text."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gdlab import cli
from gdlab._checks import UserError
from gdlab.show import lecture


def test_examples_in_lecture_order():
    assert list(lecture.EXAMPLES) == ["sigmoid", "softmax", "sgd", "batch-gd"]
    assert all(isinstance(text, str) and "\n" not in text for text in lecture.EXAMPLES.values())


def test_sigmoid_forward_pass():
    run = lecture.sigmoid_forward()
    np.testing.assert_array_equal(run.Z[:, 0], [-5.0, 1.0, 7.0])
    assert np.round(run.A[:, 0], 2).tolist() == [0.01, 0.73, 1.0]


def test_softmax_forward_pass():
    run = lecture.softmax_forward()
    np.testing.assert_array_equal(run.Z, [[-5, -9], [1, 5], [7, 19]])
    expected = [[9.82e-01, 1.80e-02], [1.80e-02, 9.82e-01], [6.14e-06, 1.00e00]]
    np.testing.assert_allclose(run.A, expected, rtol=5e-3)
    np.testing.assert_allclose(run.A.sum(axis=1), 1.0)


def test_sgd_iterations():
    first, second = lecture.sgd_iterations()
    assert first.variant == second.variant == "stochastic"
    np.testing.assert_allclose(first.gradient, [-50, -10])
    np.testing.assert_allclose(first.theta_after, [0.5, 0.1])
    np.testing.assert_allclose(second.gradient, [-223.2, -24.8])
    np.testing.assert_allclose(second.theta_after, [2.732, 0.348])


def test_batch_gd_iterations_from_a_trace():
    first, second = lecture.batch_gd_iterations()
    X, y = lecture.batch_gd_data()
    assert np.round(y, 2).tolist() == [0.99, 3.0, 5.01]
    assert np.round(first.table["loss"], 2).tolist() == [0.98, 9.02, 25.15]
    assert np.round(second.table["dL/dw"], 2).tolist() == [2.16, 2.14, -0.04]
    assert np.round(first.gradient, 2).tolist() == [-14.69, -6.0]
    assert np.round(second.theta_after, 2).tolist() == [1.33, 0.49]


SGD_TEXT = """\
Update: θ₁ = θ₀ − η∇ = (0, 0) − 0.01 × (-50, -10) = (0, 0) + (0.5, 0.1)
New θ: θ₁ = (0.5, 0.1)"""

BATCH_TABLE = """\
| row | x | y | y_hat | loss | dL/dw | dL/db |
|---:|---:|---:|---:|---:|---:|---:|
| 0 | 1.00 | 0.99 | 2.07 | 1.17 | 2.16 | 2.16 |
| 1 | 2.00 | 3.00 | 3.54 | 0.29 | 2.14 | 1.07 |
| 2 | 3.00 | 5.01 | 5.01 | 0.00 | -0.04 | -0.01 |"""


def test_render_prints_the_lecture_numbers():
    text = lecture.render()
    # in the lecture's order: data, parameters, per-row table, gradient, update, new θ
    order = ["## sigmoid", "(0.01, 0.73, 1.00)", "## softmax", "6.14e-06", "## sgd",
             "θ₀ = (w, b) = (0, 0)", "| 0 | 5 | 5 | 0 | 25 | -50 | -10 |", "∇ = (-50, -10)",
             SGD_TEXT, "∇ = (-223.2, -24.8)", "New θ: θ₂ = (2.732, 0.348)", "## batch-gd",
             "| 2 | 3 | 5.01 |", "| 0 | 1.00 | 0.99 | 0.00 | 0.98 | -1.98 | -1.98 |",
             "∇ = (-14.69, -6.00)", "New θ: θ₁ = (1.47, 0.60)", BATCH_TABLE,
             "∇ = (1.42, 1.07)", "New θ: θ₂ = (1.33, 0.49)"]
    positions = [text.find(piece) for piece in order]
    assert -1 not in positions, [p for p, i in zip(order, positions, strict=True) if i < 0]
    assert positions == sorted(positions)


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "sgd", "batch-gd"])
def test_render_one_example(name):
    text = lecture.render(name)
    assert text.startswith(f"## {name}: {lecture.EXAMPLES[name]}")
    assert sum(line.startswith("## ") for line in text.splitlines()) == 1
    assert text in lecture.render()


def test_unknown_example_lists_the_names():
    with pytest.raises(UserError, match="sigmoid, softmax, sgd, batch-gd"):
        lecture.render("adam")


def test_cli_prints_the_lecture(capsys):
    command = [sys.executable, "-c", "import sys; from gdlab.cli import main; "
               "sys.exit(main(sys.argv[1:]))"]
    done = subprocess.run([*command, "lecture", "batch-gd"], capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == lecture.render("batch-gd").strip()
    assert cli.main(["lecture", "nope"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "batch-gd" in error
