"""gdlab: train dense neural networks by gradient descent, and see every step of it."""

from gdlab import activations, lecture, losses, metrics, optimizers, schedules
from gdlab.callbacks import (
    Callback,
    DivergenceWarning,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ReduceLROnPlateau,
)
from gdlab.diagnostics import DeadReLU, DeadUnitWarning
from gdlab.gradcheck import GradcheckResult, gradcheck
from gdlab.layers import Dense
from gdlab.optimizers import SGD, Adam, RMSprop
from gdlab.persistence import load
from gdlab.schedules import Constant, ExponentialDecay, InverseTimeDecay, StepDecay
from gdlab.trace import Step, Trace
from gdlab.training import Sequential

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "Adam",
    "Callback",
    "Constant",
    "DeadReLU",
    "DeadUnitWarning",
    "Dense",
    "DivergenceWarning",
    "EarlyStopping",
    "ExponentialDecay",
    "GradcheckResult",
    "History",
    "InverseTimeDecay",
    "LearningRateScheduler",
    "RMSprop",
    "ReduceLROnPlateau",
    "Sequential",
    "Step",
    "StepDecay",
    "Trace",
    "__version__",
    "activations",
    "gradcheck",
    "lecture",
    "load",
    "losses",
    "metrics",
    "optimizers",
    "schedules",
]
