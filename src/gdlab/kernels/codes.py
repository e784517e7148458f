r"""The integer codes the compiled kernels branch on, derived from the registries.

numba code cannot hold a Python object such as an :class:`~gdlab.nn.activations.Activation`,
so each kind of activation, loss, update rule and learning-rate schedule is an integer.
The integers are not written by hand: each is the position of a name in the registry
that defines it (:func:`gdlab.nn.activations.names`, :func:`gdlab.nn.losses.names`, the
``*_update`` rules of :mod:`gdlab.optim.optimizers`, the ``kind`` of each
:mod:`gdlab.optim.schedules` schedule), so there is no second list to keep in order.

The kernels compare with the named constants below (``kind == SOFTMAX``). numba reads a
module-level integer as a compile-time constant, so a comparison with one costs nothing
at run time. A name that a registry gains later has a code, but no kernel: the executor
checks :data:`KERNEL_ACTIVATIONS` (and the like) and leaves such models to the reference
executor.

Examples
--------
>>> ACTIVATION_CODES["softmax"] == SOFTMAX
True
>>> LOSS_CODES["sparse_categorical_crossentropy"] == CATEGORICAL_CROSSENTROPY
True
>>> sorted(RULE_CODES)
['adam', 'momentum', 'nadam', 'rmsprop', 'sgd']
"""

from __future__ import annotations

from gdlab.nn import activations, losses
from gdlab.optim import optimizers, schedules

__all__ = [
    "ACTIVATION_CODES", "ADAM", "BINARY_CROSSENTROPY", "CATEGORICAL_CROSSENTROPY",
    "CONSTANT", "EXPONENTIAL", "EXPONENTIAL_DECAY", "GAMMA", "INVERSE_TIME_DECAY",
    "KERNEL_ACTIVATIONS", "KERNEL_LOSSES", "KERNEL_RULES", "KERNEL_SCHEDULES", "LINEAR",
    "LOSS_CODES", "MOMENTUM", "MSE", "NADAM", "POISSON", "RELU", "RMSPROP", "RULE_CODES",
    "SCHEDULE_CODES", "SGD", "SIGMOID", "SOFTMAX", "STEP_DECAY", "TANH", "TWEEDIE",
]


def _codes(names: list[str]) -> dict[str, int]:
    """Each name's position in the sorted list: its code."""
    return {name: code for code, name in enumerate(sorted(names))}


#: activation name -> code (:func:`gdlab.nn.activations.names`)
ACTIVATION_CODES = _codes(activations.names())
LINEAR = ACTIVATION_CODES["linear"]
SIGMOID = ACTIVATION_CODES["sigmoid"]
SOFTMAX = ACTIVATION_CODES["softmax"]
RELU = ACTIVATION_CODES["relu"]
TANH = ACTIVATION_CODES["tanh"]
EXPONENTIAL = ACTIVATION_CODES["exponential"]
#: the activations the kernels implement
KERNEL_ACTIVATIONS = frozenset({LINEAR, SIGMOID, SOFTMAX, RELU, TANH, EXPONENTIAL})

#: loss name -> code (:func:`gdlab.nn.losses.names`); the sparse categorical loss is the
#: categorical one on one-hot targets (``check_target`` makes them), so it shares its code
LOSS_CODES = _codes(losses.names())
MSE = LOSS_CODES["mse"]
BINARY_CROSSENTROPY = LOSS_CODES["binary_crossentropy"]
CATEGORICAL_CROSSENTROPY = LOSS_CODES["categorical_crossentropy"]
POISSON = LOSS_CODES["poisson"]
GAMMA = LOSS_CODES["gamma"]
TWEEDIE = LOSS_CODES["tweedie"]
LOSS_CODES["sparse_categorical_crossentropy"] = CATEGORICAL_CROSSENTROPY
#: the losses the kernels implement (the log-link ones: their unit deviance)
KERNEL_LOSSES = frozenset({MSE, BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, POISSON, GAMMA,
                           TWEEDIE})

#: update rule -> code: the pure rules ``<rule>_update`` of :mod:`gdlab.optim.optimizers`
#: (SGD with momentum or Nesterov is the momentum rule, with a flag for Nesterov)
RULE_CODES = _codes([name.removesuffix("_update") for name in optimizers.__all__
                     if name.endswith("_update")])
SGD = RULE_CODES["sgd"]
MOMENTUM = RULE_CODES["momentum"]
ADAM = RULE_CODES["adam"]
NADAM = RULE_CODES["nadam"]
RMSPROP = RULE_CODES["rmsprop"]
#: the optimizer classes whose rules the kernels implement
KERNEL_RULES = (optimizers.SGD, optimizers.Adam, optimizers.Nadam, optimizers.RMSprop)

#: schedule kind -> code: the ``kind`` of each :class:`gdlab.optim.schedules.Schedule`
_SCHEDULE_CLASSES = [cls for cls in vars(schedules).values() if isinstance(cls, type)
                     and issubclass(cls, schedules.Schedule) and cls.kind]
SCHEDULE_CODES = _codes([cls.kind for cls in _SCHEDULE_CLASSES])
CONSTANT = SCHEDULE_CODES["constant"]
STEP_DECAY = SCHEDULE_CODES["step"]
EXPONENTIAL_DECAY = SCHEDULE_CODES["exponential"]
INVERSE_TIME_DECAY = SCHEDULE_CODES["inverse_time"]
#: the schedule classes the kernels implement
KERNEL_SCHEDULES = (schedules.Constant, schedules.StepDecay, schedules.ExponentialDecay,
                    schedules.InverseTimeDecay)
