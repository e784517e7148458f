"""Build a :class:`~gdlab.train.model.Sequential` back from a configuration or a model file.

The file format (one ``.npz``, no pickle, atomic writes, checks on reading) belongs to
:mod:`gdlab.io.persistence`; :meth:`Sequential.save` writes its configuration and arrays
there, and this module builds the model back from what that module reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from gdlab.io.embedded import preprocessing_from_config
from gdlab.io.persistence import ModelFileError, read_model_file
from gdlab.io.preprocessing import Preprocessor
from gdlab.nn import losses
from gdlab.nn.embedding import Inputs
from gdlab.nn.layers import Dense
from gdlab.optim import optimizers
from gdlab.train.callbacks import History
from gdlab.train.model import Sequential, Snapshot

__all__ = ["SavedModel", "load", "load_saved", "model_from_config"]


@dataclass
class SavedModel:
    """What a model file holds: the model, its preprocessing and free metadata."""

    model: Sequential
    preprocessing: Preprocessor | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def model_from_config(config: dict[str, Any], *, input_dim: int | None = None) -> Sequential:
    """A fresh :class:`~gdlab.train.model.Sequential` from :meth:`get_config`'s dict.

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
    layers = [Dense(**layer) for layer in config["layers"]]
    dim = config.get("input_dim") if input_dim is None else input_dim
    inputs = Inputs.from_config(config["inputs"]) if config.get("inputs") else None
    model = Sequential(layers, input_dim=dim, seed=config.get("seed"),
                       dtype=config.get("dtype", "float64"), inputs=inputs)
    if config.get("loss") is not None:
        loss_config = dict(config["loss"])
        loss = losses.get(loss_config.pop("name"), **loss_config)
        optimizer = optimizers.get(config["optimizer"] or "sgd")
        model.compile(loss=loss, optimizer=optimizer, metrics=config.get("metrics", []))
    return model


def load_saved(path: str | os.PathLike[str]) -> SavedModel:
    """Load a model file (or a run folder's ``model.npz``) with its preprocessing.

    Raises
    ------
    ModelFileError
        If the file is missing, not a gdlab model, truncated, corrupted or too new.
    """
    file = read_model_file(path)
    description = file.description
    try:
        model = model_from_config(description["config"])
        model.restore(Snapshot(file.theta, file.optimizer_state,
                               int(description.get("step_count", 0))))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{file.path} is corrupted (inconsistent description: "
                             f"{error}).") from None
    saved_history = description.get("history") or {}
    model.history = History()
    model.history.epoch = list(saved_history.get("epoch", []))
    model.history.history = dict(saved_history.get("history", {}))
    model.history.diverged = saved_history.get("diverged")
    preprocessing = None
    if description.get("preprocessing") is not None:
        preprocessing = preprocessing_from_config(description["preprocessing"])
        model.preprocessing = preprocessing  # used by predict/evaluate on a ParquetSource
    return SavedModel(model, preprocessing, description.get("metadata", {}))


def load(path: str | os.PathLike[str]) -> Sequential:
    """Load a model saved by :meth:`Sequential.save <gdlab.train.model.Sequential.save>`.

    ``path`` is a model file or a run folder holding ``model.npz``. The loaded model
    gives bit-identical predictions and can continue training (optimizer state kept).

    Examples
    --------
    >>> import tempfile, numpy as np, gdlab as gd
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
