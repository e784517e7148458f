"""Input validation: arrays in, clean float arrays out, or an error that names the fix.

Nothing here modifies what the user passed: conversions make new arrays (or read-only
use of the user's own float64 array).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdlab._checks import UserError, UserTypeError
from gdlab._typing import FloatArray

__all__ = ["check_exposure", "check_sample_weight", "check_X", "check_y"]


def _is_numeric_dtype(dtype: Any) -> bool:
    """Whether a column dtype holds numbers (pandas' string/category dtypes do not)."""
    try:
        return bool(np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_))
    except TypeError:  # a pandas extension dtype: numeric ones say so via their kind
        return getattr(dtype, "kind", "O") in "biuf"


def _to_float(value: Any, name: str, *, keep_float32: bool = False) -> FloatArray:
    """``value`` as a float64 array (float32 kept as it is with ``keep_float32``), checked."""
    if value is None:
        raise UserTypeError(f"{name} is None; pass an array of numbers.")
    if hasattr(value, "dtypes") and hasattr(value, "select_dtypes"):  # a DataFrame
        text = [c for c, t in value.dtypes.items() if not _is_numeric_dtype(t)]
        if text:
            raise UserTypeError(
                f"{name} has non-numeric columns {text[:5]}; encode them as numbers first "
                "(e.g. one-hot with pandas.get_dummies or gdlab fit's preprocessing)."
            )
        value = value.to_numpy(dtype=float, na_value=np.nan)  # nullable columns: NA -> NaN
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise UserTypeError(f"{name} could not be read as an array of numbers: {error}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise UserTypeError(
            f"{name} must hold numbers; got dtype {array.dtype}. Convert text columns to "
            "numbers (e.g. one-hot encode categories) first."
        )
    if np.iscomplexobj(array):
        raise UserTypeError(f"{name} must hold real numbers; got complex values.")
    if keep_float32 and array.dtype == np.float32:
        return array
    return np.asarray(array, dtype=float)


def _check_finite(array: FloatArray, name: str) -> None:
    # one read, no temporary: a finite sum proves every entry finite (a NaN or inf makes it
    # NaN or inf); only a non-finite one, which overflow can also give, needs the entry-wise
    # check (scikit-learn's _assert_all_finite does the same)
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(np.sum(array)):
            return
    if not np.all(np.isfinite(array)):
        bad = ~np.isfinite(array)
        rows = np.flatnonzero(bad.any(axis=1) if bad.ndim == 2 else bad)
        kind = "NaN" if np.isnan(array).any() else "inf"
        raise UserError(
            f"{name} contains {int(bad.sum())} {kind} value(s) (rows {rows[:5].tolist()}"
            f"{' …' if rows.size > 5 else ''}). Drop or impute missing values before fitting."
        )


def check_X(X: Any, *, n_features: int | None = None, name: str = "X") -> FloatArray:
    """Return X as a float array of shape (n, p); a 1-D X is one feature per row.

    A float32 X stays float32 (a float32 model then takes it without a copy); any other
    numbers become float64.

    Examples
    --------
    >>> check_X([1, 2, 3]).shape
    (3, 1)
    """
    array = _to_float(X, name, keep_float32=True)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise UserError(
            f"{name} must be 2-D (rows × features); got an array of shape {array.shape}. "
            "Reshape it to (n, p)."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise UserError(f"{name} is empty (shape {array.shape}); pass at least one row and "
                         "one feature.")
    _check_finite(array, name)
    if n_features is not None and array.shape[1] != n_features:
        raise UserError(
            f"{name} has {array.shape[1]} feature(s) but the model expects {n_features}. "
            "Pass the same columns as at fit time."
        )
    return array


def check_y(y: Any, n: int, *, name: str = "y") -> FloatArray:
    """Return y as a float array with n rows (shape (n,) or (n, k))."""
    array = _to_float(y, name)
    if array.ndim not in (1, 2):
        raise UserError(f"{name} must be 1-D (one target per row) or 2-D (n, k); got "
                         f"shape {array.shape}. Reshape it, e.g. y.reshape(len(y), -1).")
    if array.shape[0] != n:
        raise UserError(
            f"X has {n} rows but {name} has {array.shape[0]}: they must describe the same "
            "observations, row by row."
        )
    _check_finite(array, name)
    return array


def check_sample_weight(sample_weight: Any, n: int) -> FloatArray | None:
    """Return weights of shape (n,), finite, >= 0, not all zero (or None)."""
    if sample_weight is None:
        return None
    w = _to_float(sample_weight, "sample_weight").ravel()
    if w.shape[0] != n:
        raise UserError(
            f"sample_weight has {w.shape[0]} values but X has {n} rows; give one weight per "
            "row."
        )
    _check_finite(w, "sample_weight")
    if (w < 0).any() or w.sum() <= 0:
        raise UserError(
            "sample_weight must be >= 0 with a positive sum; got "
            f"{int((w < 0).sum())} negative weight(s) (e.g. {float(w.min())!r}), sum "
            f"{float(w.sum())!r}. Use weights such as exposures or 1 for every row."
        )
    return w


def check_exposure(exposure: Any, n: int, *, loss_name: str, accepts: bool) -> FloatArray | None:
    """Return exposure of shape (n,), finite and > 0 (or None)."""
    if exposure is None:
        return None
    if not accepts:
        raise UserError(
            f"exposure is for rate models (mse, poisson, gamma, tweedie), not "
            f"loss={loss_name!r}. Drop exposure=, or compile with loss='poisson'."
        )
    e = _to_float(exposure, "exposure").ravel()
    if e.shape[0] != n:
        raise UserError(
            f"exposure has {e.shape[0]} values but X has {n} rows; give one exposure per row."
        )
    _check_finite(e, "exposure")
    if (e <= 0).any():
        rows = np.flatnonzero(e <= 0)
        raise UserError(
            f"exposure must be > 0; {rows.size} row(s) are not (rows {rows[:5].tolist()}, "
            f"e.g. {float(e[rows[0]])!r}). Drop rows with zero exposure before fitting."
        )
    return e
