r"""Learning-rate schedules: :math:`\eta_t` as a function of the step :math:`t = 0, 1, …`.

A schedule is passed as an optimizer's ``learning_rate``. Each is a pure function of
the global step count, so the reference and compiled executors agree. The epoch-level
rules (a per-epoch function, or reduce-on-plateau) are callbacks
(:class:`gdlab.train.callbacks.LearningRateScheduler`,
:class:`gdlab.train.callbacks.ReduceLROnPlateau`).
"""

from __future__ import annotations

import math
from typing import Any

from gdlab._checks import check_choice, check_positive_int, check_positive_number

__all__ = ["Constant", "ExponentialDecay", "InverseTimeDecay", "Schedule", "StepDecay", "get"]

_ETA_HINT = "Typical values are 0.001 to 0.1."


class Schedule:
    """Base class: ``schedule(step) -> learning rate``."""

    kind = ""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Return the JSON-safe configuration."""
        return {"kind": self.kind, **vars(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    r""":math:`\eta_t = \eta_0`.

    Examples
    --------
    >>> Constant(0.1)(1000)
    0.1
    """

    kind = "constant"

    def __init__(self, initial_learning_rate: float) -> None:
        self.initial_learning_rate = check_positive_number(
            "learning_rate", initial_learning_rate, hint=_ETA_HINT)

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate


class StepDecay(Schedule):
    r""":math:`\eta_t = \eta_0 \cdot f^{\lfloor t / s \rfloor}`: multiply by ``factor`` every ``every`` steps.

    Examples
    --------
    >>> StepDecay(0.1, every=10, factor=0.5)(25)
    0.025
    """  # noqa: E501

    kind = "step"

    def __init__(self, initial_learning_rate: float, *, every: int, factor: float = 0.5) -> None:
        self.initial_learning_rate = check_positive_number(
            "initial_learning_rate", initial_learning_rate, hint=_ETA_HINT)
        self.every = check_positive_int("every", every, hint="Give the number of steps.")
        self.factor = check_positive_number("factor", factor, hint="e.g. 0.5 halves η.")

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.factor ** (step // self.every)


class ExponentialDecay(Schedule):
    r""":math:`\eta_t = \eta_0 \cdot r^{t / s}` (``staircase``: :math:`r^{\lfloor t/s \rfloor}`), as Keras.

    Examples
    --------
    >>> round(ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(10), 12)
    0.05
    """  # noqa: E501

    kind = "exponential"

    def __init__(self, initial_learning_rate: float, *, decay_steps: int, decay_rate: float,
                 staircase: bool = False) -> None:
        self.initial_learning_rate = check_positive_number(
            "initial_learning_rate", initial_learning_rate, hint=_ETA_HINT)
        self.decay_steps = check_positive_int("decay_steps", decay_steps, hint="e.g. 1000.")
        self.decay_rate = check_positive_number("decay_rate", decay_rate, hint="e.g. 0.96.")
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        exponent = math.floor(p) if self.staircase else p
        return self.initial_learning_rate * self.decay_rate**exponent


class InverseTimeDecay(Schedule):
    r""":math:`\eta_t = \eta_0 / (1 + r\, t / s)` (``staircase``: :math:`\lfloor t/s \rfloor`), as Keras.

    Examples
    --------
    >>> InverseTimeDecay(0.1, decay_steps=1, decay_rate=1.0)(1)
    0.05
    """  # noqa: E501

    kind = "inverse_time"

    def __init__(self, initial_learning_rate: float, *, decay_steps: int, decay_rate: float,
                 staircase: bool = False) -> None:
        self.initial_learning_rate = check_positive_number(
            "initial_learning_rate", initial_learning_rate, hint=_ETA_HINT)
        self.decay_steps = check_positive_int("decay_steps", decay_steps, hint="e.g. 1000.")
        self.decay_rate = check_positive_number("decay_rate", decay_rate, hint="e.g. 0.5.")
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        exponent = math.floor(p) if self.staircase else p
        return self.initial_learning_rate / (1.0 + self.decay_rate * exponent)


_KINDS = {cls.kind: cls for cls in (Constant, StepDecay, ExponentialDecay, InverseTimeDecay)}


def get(learning_rate: float | Schedule) -> Schedule:
    """A schedule from a number (constant) or a :class:`Schedule`; or from its config."""
    if isinstance(learning_rate, Schedule):
        return learning_rate
    if isinstance(learning_rate, dict):
        config = dict(learning_rate)
        kind = check_choice("kind", config.pop("kind", None), _KINDS)
        return _KINDS[kind](**config)
    return Constant(learning_rate)
