"""Model files: a configuration and arrays, without pickle; every write is atomic.

A model file is one ``.npz`` archive (read with ``allow_pickle=False``) holding:

- ``gdlab_model``: the JSON description as UTF-8 bytes: format name and version, the
  model's configuration (:meth:`~gdlab.train.model.Sequential.get_config`), θ's dtype,
  shape and SHA-256, the optimizer state's layout, the history and, optionally, the
  preprocessing of the input columns (:class:`gdlab.io.preprocessing.Preprocessor`) and
  free metadata;
- ``theta``: the flat parameter vector θ, bit for bit;
- ``opt_state.<field>``: the optimizer's state (so training can be resumed).

The archive is written to a temporary file in the target folder and renamed over the
target (``os.replace``) only once complete, so an interrupted save never leaves a broken
model in place of a good one. This module knows configurations and arrays only; the model
is built from them by :mod:`gdlab.train.saving`. Reading checks everything and raises
:class:`ModelFileError` (a ``UserError``, so a ``ValueError``) naming the problem: not a
gdlab file, truncated or corrupted, written by a newer gdlab.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdlab._checks import UserError
from gdlab.io.files import create_file_beside, sync_folder
from gdlab.optim.optimizers import AdamState, MomentumState, NadamState, RMSpropState

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MODEL_FILENAME",
    "STATE_TYPES",
    "ModelFile",
    "ModelFileError",
    "atomic_write",
    "read_model_file",
    "write_model_file",
]

FORMAT_NAME = "gdlab-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.npz"  #: the model's file name inside a run folder


#: the optimizer states a file may name (nothing else is instantiated from a file)
STATE_TYPES = {state.__name__: state for state in (MomentumState, AdamState, NadamState,
                                                   RMSpropState)}


class ModelFileError(UserError):
    """A model file that cannot be loaded (missing, not gdlab, corrupted, too new)."""


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
    handle, temp_name = create_file_beside(path)  # mode 0666 less the umask, like open()
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)  # the rename too is on disk
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


def write_model_file(path: str | os.PathLike[str], *, config: dict[str, Any],
                     theta: np.ndarray, optimizer_state: Any = None, step_count: int = 0,
                     history: dict[str, Any] | None = None,
                     preprocessing: dict[str, Any] | None = None,
                     metadata: dict[str, Any] | None = None) -> Path:
    """Write a model's configuration and arrays to ``path`` (one ``.npz``), atomically.

    Parameters
    ----------
    path : str or Path
        The file to write (conventionally ``*.npz``); replaced if it exists.
    config : dict
        The model's JSON-safe configuration (``Sequential.get_config()``).
    theta : ndarray of shape (n_params,)
        The flat parameter vector, stored bit for bit with its SHA-256.
    optimizer_state : NamedTuple, optional
        One of :data:`STATE_TYPES`; kept so that training can be resumed.
    step_count : int
    history, preprocessing, metadata : dict, optional
        JSON-safe: the history's epochs and logs, the preprocessing's config, free data.

    Returns
    -------
    Path
    """
    theta = np.ascontiguousarray(theta)
    layout, state_arrays = _state_arrays(optimizer_state)
    description = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config,
        "theta": {"dtype": theta.dtype.name, "size": int(theta.size),
                  "sha256": hashlib.sha256(theta.tobytes()).hexdigest()},
        "step_count": int(step_count),
        "opt_state": layout,
        "history": history or {},
        "preprocessing": preprocessing,
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


@dataclass
class ModelFile:
    """What a model file holds: its JSON description, θ and the optimizer state."""

    description: dict[str, Any]
    theta: np.ndarray
    optimizer_state: Any = None
    path: Path = field(default_factory=Path)


def _optimizer_state(layout: dict[str, Any] | None, arrays: dict[str, np.ndarray]) -> Any:
    """The optimizer state from its layout; only the state types of :data:`STATE_TYPES`."""
    if layout is None:
        return None
    state_type = STATE_TYPES.get(layout.get("type"))
    if state_type is None:
        raise UserError(f"unknown optimizer state type {layout.get('type')!r}")
    values = {name: arrays[f"opt_state.{name}"] if kind == "array" else kind
              for name, kind in layout["fields"].items()}
    return state_type(**values)


def read_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Read and check a model file (or a run folder's ``model.npz``).

    Raises
    ------
    ModelFileError
        If the file is missing, not a gdlab model, truncated, corrupted or too new.
    """
    path = _resolve(path)
    arrays = _read_archive(path)
    description = _description(path, arrays)
    _check_theta(path, arrays["theta"], description["theta"])
    try:
        state = _optimizer_state(description.get("opt_state"), arrays)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path} is corrupted (inconsistent description: {error}).") \
            from None
    return ModelFile(description, arrays["theta"], state, path)
