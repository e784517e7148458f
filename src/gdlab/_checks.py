"""Argument checks shared by the API: each error names the argument, the value and the fix."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_positive_number(name: str, value: Any, *, hint: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {name}={value!r}. {hint}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be > 0; got {name}={value!r}. {hint}")
    return float(value)


def check_fraction(name: str, value: Any, *, hint: str, closed: bool = False) -> float:
    """Return ``value`` as a float in [0, 1) (or [0, 1] with ``closed``), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {name}={value!r}. {hint}")
    upper_ok = value <= 1.0 if closed else value < 1.0
    if not (np.isfinite(value) and value >= 0.0 and upper_ok):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{name} must be in {interval}; got {name}={value!r}. {hint}")
    return float(value)


def check_positive_int(name: str, value: Any, *, hint: str) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {name}={value!r}. {hint}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1; got {name}={value!r}. {hint}")
    return int(value)


def check_choice(name: str, value: Any, choices: dict[str, Any] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (names), else raise listing them."""
    names = sorted(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {names}; got {value!r}.")
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}. Use one of: {', '.join(names)}.")
    return value


def check_seed(value: Any) -> int | None:
    """Return ``value`` if it is None or an integer >= 0 (a seed), else raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"seed must be an integer or None; got seed={value!r}. e.g. seed=0.")
    if value < 0:
        raise ValueError(f"seed must be >= 0; got seed={value!r}. e.g. seed=0.")
    return int(value)
