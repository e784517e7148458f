"""Mistakes in the user's input found by gdlab.io and gdlab.nn are UserError / UserTypeError
(issue 12 item 9), so the command line says them in one line; their messages are unchanged."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.test_bad_input import FIT_ERRORS, NAME_ERRORS

import gdlab as gd
from gdlab._checks import UserError, UserTypeError
from gdlab.io import persistence, preprocessing

SRC = Path(gd.__file__).parent


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in FIT_ERRORS + NAME_ERRORS],
                         ids=[c[0] for c in FIT_ERRORS + NAME_ERRORS])
def test_bad_input_raises_the_user_error_types(call, error, pattern):
    """Every error of tests/test_bad_input.py: a UserTypeError where it was a TypeError."""
    expected = UserTypeError if error is TypeError else UserError
    with pytest.raises(expected, match=pattern):
        call()


def _unbuilt_theta():
    return gd.Sequential([gd.Dense(1)]).theta


def _built(units=1):
    return gd.Sequential([gd.Dense(units)], input_dim=2, seed=0)


@pytest.mark.parametrize(("call", "error", "pattern"), [
    (_unbuilt_theta, UserError, "no input dimension yet"),
    (lambda: _built().set_theta(np.zeros(5)), UserError, r"finite vector of 3 numbers"),
    (lambda: _built().set_weights([np.zeros((3, 1))]), UserError, r"set_weights needs arrays"),
    (lambda: gd.Dense(1).n_params, UserError, r"not built yet: call build\(input_dim\)"),
    (lambda: gd.Sequential([gd.Dense(1)], dtype="float16"), UserError, "dtype must be"),
    (lambda: gd.losses.get("tweedie", power="1.5"), UserTypeError, r"power must be in \(1, 2\)"),
    (lambda: gd.losses.get("tweedie", power=1.0), UserError, r"got power=1\.0"),
    (lambda: preprocessing.read_table("no-such-file.csv"), UserError, "does not exist"),
    (lambda: preprocessing.Preprocessor.fit(pd.DataFrame({"a": [1, 2]}), ["a"]).transform(
        pd.DataFrame({"b": [1]})), UserError, r"Feature column\(s\) \['a'\] not in the data"),
    (lambda: preprocessing.encode_target(pd.Series([1.0, -1.0], name="n"), "poisson"),
     UserError, "negative value"),
    (lambda: persistence.read_model_file("no-such-model.npz"), persistence.ModelFileError,
     "does not exist"),
], ids=["unbuilt", "set_theta", "set_weights", "layer-unbuilt", "dtype", "power-type",
        "power-value", "read_table", "transform", "encode_target", "model-file"])
def test_api_user_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_a_model_file_error_is_a_user_error():
    assert issubclass(persistence.ModelFileError, UserError)


def _plain_raises(path: Path) -> list[str]:
    """``raise ValueError(...)`` / ``raise TypeError(...)`` statements in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = getattr(node.exc.func, "id", None)
            if name in ("ValueError", "TypeError"):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} raise {name}")
    return found


def test_io_and_nn_raise_no_plain_value_or_type_error():
    """Their raises all concern the user's input (arguments, arrays, files, columns)."""
    modules = sorted((SRC / "io").glob("*.py")) + sorted((SRC / "nn").glob("*.py"))
    assert len(modules) >= 8
    assert [line for path in modules for line in _plain_raises(path)] == []
