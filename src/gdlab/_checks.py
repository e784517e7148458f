"""Argument checks shared by the API: each error names the argument, the value and the fix.

They raise gdlab's user-error types: :class:`UserError` (a ``ValueError``) and
:class:`UserTypeError` (a ``TypeError`` too), so ``except ValueError`` / ``except
TypeError`` keep working while the command line can tell a mistake in its input (one line,
exit status 2) from a bug in gdlab (a traceback).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["UserError", "UserTypeError", "check_choice", "check_fraction", "check_positive_int",
           "check_positive_number", "check_seed"]


class UserError(ValueError):
    """A mistake in what the user gave gdlab (an argument, a file, a column), not a bug.

    The message names the argument, the problem and the fix.

    Examples
    --------
    >>> try:
    ...     check_positive_int("epochs", 0, hint="Train for at least one epoch.")
    ... except ValueError as error:  # a UserError is a ValueError
    ...     print(type(error).__name__, "-", error)
    UserError - epochs must be >= 1; got epochs=0. Train for at least one epoch.
    """


class UserTypeError(UserError, TypeError):
    """A :class:`UserError` about a value's type: both a ``ValueError`` and a ``TypeError``."""


def check_positive_number(name: str, value: Any, *, hint: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserTypeError(f"{name} must be a number; got {name}={value!r}. {hint}")
    if not np.isfinite(value) or value <= 0:
        raise UserError(f"{name} must be > 0; got {name}={value!r}. {hint}")
    return float(value)


def check_fraction(name: str, value: Any, *, hint: str, closed: bool = False) -> float:
    """Return ``value`` as a float in [0, 1) (or [0, 1] with ``closed``), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserTypeError(f"{name} must be a number; got {name}={value!r}. {hint}")
    upper_ok = value <= 1.0 if closed else value < 1.0
    if not (np.isfinite(value) and value >= 0.0 and upper_ok):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise UserError(f"{name} must be in {interval}; got {name}={value!r}. {hint}")
    return float(value)


def check_positive_int(name: str, value: Any, *, hint: str) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserTypeError(f"{name} must be an integer; got {name}={value!r}. {hint}")
    if value < 1:
        raise UserError(f"{name} must be >= 1; got {name}={value!r}. {hint}")
    return int(value)


def check_choice(name: str, value: Any, choices: dict[str, Any] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (names), else raise listing them."""
    names = sorted(choices)
    if not isinstance(value, str):
        raise UserTypeError(f"{name} must be a string, one of {names}; got {value!r}.")
    if value not in choices:
        raise UserError(f"Unknown {name} {value!r}. Use one of: {', '.join(names)}.")
    return value


def check_seed(value: Any) -> int | None:
    """Return ``value`` if it is None or an integer >= 0 (a seed), else raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserTypeError(f"seed must be an integer or None; got seed={value!r}. e.g. seed=0.")
    if value < 0:
        raise UserError(f"seed must be >= 0; got seed={value!r}. e.g. seed=0.")
    return int(value)
