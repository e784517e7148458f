"""gdlab: train dense neural networks by gradient descent, and see every step of it.

The package is layered (``ls src/gdlab`` shows it): :mod:`gdlab.nn` (the math),
:mod:`gdlab.optim` (the rules of a step), :mod:`gdlab.kernels` (the compiled executor),
:mod:`gdlab.io` (data and files), :mod:`gdlab.train` (the model and its loop),
:mod:`gdlab.metrics`, :mod:`gdlab.estimators`, :mod:`gdlab.show` (pictures, report,
lecture), :mod:`gdlab.cli` and :mod:`gdlab.explorer`. The names below are the public API.
"""

from importlib import import_module
from typing import Any

from gdlab import metrics
from gdlab._checks import UserError, UserTypeError
from gdlab.nn import activations, losses
from gdlab.nn.embedding import Embedding, Inputs
from gdlab.nn.gradcheck import GradcheckResult, gradcheck
from gdlab.nn.layers import Dense
from gdlab.optim import optimizers, schedules
from gdlab.optim.optimizers import SGD, Adam, Nadam, RMSprop
from gdlab.optim.schedules import Constant, ExponentialDecay, InverseTimeDecay, StepDecay
from gdlab.train import callbacks
from gdlab.train.callbacks import (
    Callback,
    DivergenceWarning,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ReduceLROnPlateau,
)
from gdlab.train.cann import CANN, cann
from gdlab.train.diagnostics import DeadReLU, DeadUnitWarning
from gdlab.train.model import Sequential
from gdlab.train.saving import load
from gdlab.train.stability import stable_learning_rate
from gdlab.train.trace import Step, Trace

__version__ = "0.1.0"

#: submodules loaded on first use (pictures need matplotlib; the lecture builds models)
_LAZY = {"plots": "gdlab.show.plots", "report": "gdlab.show.report",
         "lecture": "gdlab.show.lecture", "estimators": "gdlab.estimators",
         "sweep": "gdlab.train.sweep", "kernels": "gdlab.kernels"}
#: classes loaded on first use (ParquetSource imports pyarrow)
_LAZY_CLASSES = {"ParquetSource": "gdlab.io.parquet"}


def __getattr__(name: str) -> Any:
    """``gd.plots``, ``gd.report``, ``gd.lecture``, …: imported when first used."""
    if name in _LAZY:
        return import_module(_LAZY[name])
    if name in _LAZY_CLASSES:
        return getattr(import_module(_LAZY_CLASSES[name]), name)
    raise AttributeError(f"module 'gdlab' has no attribute {name!r}")


__all__ = [
    "CANN",
    "SGD",
    "Adam",
    "Callback",
    "Constant",
    "DeadReLU",
    "DeadUnitWarning",
    "Dense",
    "DivergenceWarning",
    "EarlyStopping",
    "Embedding",
    "ExponentialDecay",
    "GradcheckResult",
    "History",
    "Inputs",
    "InverseTimeDecay",
    "LearningRateScheduler",
    "Nadam",
    "ParquetSource",
    "RMSprop",
    "ReduceLROnPlateau",
    "Sequential",
    "Step",
    "StepDecay",
    "Trace",
    "UserError",
    "UserTypeError",
    "__version__",
    "activations",
    "callbacks",
    "cann",
    "gradcheck",
    "lecture",
    "load",
    "losses",
    "metrics",
    "optimizers",
    "plots",
    "report",
    "stable_learning_rate",
    "schedules",
]
