"""gdlab: train dense neural networks by gradient descent, and see every step of it."""

from gdlab import activations, losses, optimizers, schedules
from gdlab.callbacks import (
    Callback,
    DivergenceWarning,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ReduceLROnPlateau,
)
from gdlab.gradcheck import GradcheckResult, gradcheck
from gdlab.layers import Dense
from gdlab.optimizers import SGD, Adam, RMSprop
from gdlab.schedules import Constant, ExponentialDecay, InverseTimeDecay, StepDecay
from gdlab.trace import Step, Trace
from gdlab.training import Sequential

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "Adam",
    "Callback",
    "Constant",
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
    "losses",
    "optimizers",
    "schedules",
]
