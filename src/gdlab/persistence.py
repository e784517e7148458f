"""Save and load models without pickle; every write is atomic.

A model file is one ``.npz`` archive (read with ``allow_pickle=False``) holding:

- ``gdlab_model``: the JSON description as UTF-8 bytes: format name and version, the
  model's :meth:`~gdlab.training.Sequential.get_config`, θ's dtype, shape and SHA-256,
  the optimizer state's layout, the history and, optionally, the preprocessing of the
  input columns (:class:`gdlab.preprocessing.Preprocessor`) and free metadata;
- ``theta``: the flat parameter vector θ, bit for bit;
- ``opt_state.<field>``: the optimizer's state (so training can be resumed).

The archive is written to a temporary file in the target folder and renamed over the
target (``os.replace``) only once complete, so an interrupted save never leaves a broken
model in place of a good one. Loading checks everything and raises
:class:`ModelFileError` (a ``ValueError``) naming the problem: not a gdlab file,
truncated or corrupted, written by a newer gdlab.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileError",
    "SavedModel",
    "atomic_write",
    "load",
    "load_saved",
    "model_from_config",
    "save",
]

FORMAT_NAME = "gdlab-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.npz"  #: the model's file name inside a run folder


class ModelFileError(ValueError):
    """A model file that cannot be loaded (missing, not gdlab, corrupted, too new)."""


@dataclass
class SavedModel:
    """What a model file holds: the model, its preprocessing and free metadata."""

    model: Any
    preprocessing: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


def model_from_config(config: dict[str, Any], *, input_dim: int | None = None) -> Any:
    """A fresh :class:`~gdlab.training.Sequential` from :meth:`get_config`'s dict.

    It is compiled when the config names a loss (and optimizer). θ is drawn from the
    config's seed; set ``model.theta`` to copy another model's parameters.

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(2, "relu"), gd.Dense(1)], input_dim=3, seed=1)
    >>> model.compile(loss="mse", optimizer=gd.SGD(0.1))
    >>> copy = model_from_config(model.get_config())
    >>> bool((copy.theta == model.theta).all()), copy.optimizer
    (True, SGD(learning_rate=0.1, momentum=0.0, nesterov=False))
    """
    from gdlab import losses, optimizers
    from gdlab.layers import Dense
    from gdlab.training import Sequential

    layers = [Dense(**layer) for layer in config["layers"]]
    dim = config.get("input_dim") if input_dim is None else input_dim
    model = Sequential(layers, input_dim=dim, seed=config.get("seed"),
                       dtype=config.get("dtype", "float64"))
    if config.get("loss") is not None:
        loss_config = dict(config["loss"])
        loss = losses.get(loss_config.pop("name"), **loss_config)
        optimizer = optimizers.get(config["optimizer"] or "sgd")
        model.compile(loss=loss, optimizer=optimizer, metrics=config.get("metrics", []))
    return model


# --- writing -----------------------------------------------------------------------------
def atomic_write(path: str | os.PathLike[str], write: Any) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``.

    The rename (``os.replace``) is atomic on POSIX and Windows: readers see the old file
    or the complete new one, never a partial file. On any error the temporary file is
    removed and ``path`` is untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; give a file name, e.g. {path / 'model.npz'}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def _state_arrays(state: Any) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
    """The optimizer state as (layout for the JSON, arrays for the archive)."""
    if state is None:
        return None, {}
    layout: dict[str, Any] = {"type": type(state).__name__, "fields": {}}
    arrays = {}
    for name, value in state._asdict().items():
        if isinstance(value, np.ndarray):
            layout["fields"][name] = "array"
            arrays[f"opt_state.{name}"] = value
        else:
            layout["fields"][name] = value.item() if hasattr(value, "item") else value
    return layout, arrays


def _history(model: Any) -> dict[str, Any]:
    history = getattr(model, "history", None)
    if history is None:
        return {}
    return {"epoch": list(history.epoch), "history": history.history,
            "diverged": None if history.diverged is None else
            {k: v for k, v in history.diverged.items()}}


def save(model: Any, path: str | os.PathLike[str], *, preprocessing: Any = None,
         metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and its input preprocessing) to ``path``, atomically.

    Parameters
    ----------
    model : Sequential
        A built model (θ exists).
    path : str or Path
        The file to write (conventionally ``*.npz``); replaced if it exists.
    preprocessing : Preprocessor, optional
        Kept with the model; :func:`load_saved` returns it.
    metadata : dict, optional
        JSON-safe extra information (e.g. the target column).

    Returns
    -------
    Path
    """
    model._require_built()
    theta = np.ascontiguousarray(model._theta)
    layout, state_arrays = _state_arrays(model._opt_state)
    description = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": model.get_config(),
        "theta": {"dtype": theta.dtype.name, "size": int(theta.size),
                  "sha256": hashlib.sha256(theta.tobytes()).hexdigest()},
        "step_count": int(model.step_count),
        "opt_state": layout,
        "history": _history(model),
        "preprocessing": None if preprocessing is None else preprocessing.get_config(),
        "metadata": metadata or {},
    }
    text = json.dumps(description, allow_nan=True).encode("utf-8")
    arrays = {"gdlab_model": np.frombuffer(text, dtype=np.uint8), "theta": theta,
              **state_arrays}
    return atomic_write(path, lambda file: np.savez(file, **arrays))


# --- reading -----------------------------------------------------------------------------
def _resolve(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
        if not path.exists():
            raise ModelFileError(
                f"{path.parent} is a folder without {MODEL_FILENAME}; give a gdlab run "
                "folder (from `gdlab fit --out`) or a model file."
            )
    if not path.exists():
        raise ModelFileError(f"Model file {path} does not exist; check the path.")
    return path


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    corrupted = (f"{path} is truncated or corrupted ({{}}); save the model again or use "
                 "another copy.")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as file:
            head = file.read(4)
        if head[:2] == b"PK":
            raise ModelFileError(corrupted.format("incomplete archive"))
        raise ModelFileError(
            f"{path} is not a gdlab model file (not an .npz archive); save models with "
            "model.save(path)."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ModelFileError(corrupted.format(error)) from None


def _description(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if "gdlab_model" not in arrays or "theta" not in arrays:
        raise ModelFileError(
            f"{path} is an .npz archive but not a gdlab model file; save models with "
            "model.save(path)."
        )
    try:
        description = json.loads(arrays["gdlab_model"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path} is corrupted (unreadable description); save the model "
                             "again.") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a gdlab model file; save models with "
                             "model.save(path).")
    version = description.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path} has an invalid format version {version!r}.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer gdlab (model format {version}); this gdlab reads "
            f"format {FORMAT_VERSION} and older. Upgrade gdlab: pip install -U gdlab."
        )
    return description


def _check_theta(path: Path, theta: np.ndarray, expected: dict[str, Any]) -> None:
    if (theta.ndim != 1 or theta.dtype.name != expected.get("dtype")
            or theta.size != expected.get("size")
            or hashlib.sha256(np.ascontiguousarray(theta).tobytes()).hexdigest()
            != expected.get("sha256")):
        raise ModelFileError(f"{path} is corrupted (θ does not match its checksum); save the "
                             "model again or use another copy.")


def _restore_state(model: Any, layout: dict[str, Any] | None,
                   arrays: dict[str, np.ndarray]) -> None:
    from gdlab import optimizers

    if layout is None:
        return
    state_type = getattr(optimizers, layout["type"])
    values = {name: arrays[f"opt_state.{name}"] if kind == "array" else kind
              for name, kind in layout["fields"].items()}
    model._opt_state = state_type(**values)


def load_saved(path: str | os.PathLike[str]) -> SavedModel:
    """Load a model file (or a run folder's ``model.npz``) with its preprocessing.

    Raises
    ------
    ModelFileError
        If the file is missing, not a gdlab model, truncated, corrupted or too new.
    """
    from gdlab.callbacks import History

    path = _resolve(path)
    arrays = _read_archive(path)
    description = _description(path, arrays)
    _check_theta(path, arrays["theta"], description["theta"])
    try:
        model = model_from_config(description["config"])
        model.theta = arrays["theta"]
        _restore_state(model, description.get("opt_state"), arrays)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path} is corrupted (inconsistent description: {error}).") \
            from None
    model.step_count = description.get("step_count", 0)
    saved_history = description.get("history") or {}
    model.history = History()
    model.history.epoch = list(saved_history.get("epoch", []))
    model.history.history = dict(saved_history.get("history", {}))
    model.history.diverged = saved_history.get("diverged")
    preprocessing = None
    if description.get("preprocessing") is not None:
        from gdlab.preprocessing import Preprocessor

        preprocessing = Preprocessor.from_config(description["preprocessing"])
    return SavedModel(model, preprocessing, description.get("metadata", {}))


def load(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by :meth:`Sequential.save <gdlab.training.Sequential.save>`.

    ``path`` is a model file or a run folder holding ``model.npz``. The loaded model
    gives bit-identical predictions and can continue training (optimizer state kept).

    Examples
    --------
    >>> import tempfile, gdlab as gd
    >>> model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2, seed=0)
    >>> model.compile(loss="binary_crossentropy")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = model.save(f"{folder}/m.npz")
    ...     again = gd.load(f"{folder}/m.npz")
    >>> X = np.array([[0.5, -1.0]])
    >>> bool((again.predict(X) == model.predict(X)).all())
    True
    """
    return load_saved(path).model
