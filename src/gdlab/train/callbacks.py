"""Callbacks: code that runs around epochs and steps (history, early stopping, …).

Hooks, as in Keras: ``on_train_begin``, ``on_epoch_begin``, ``on_epoch_end``,
``on_train_end`` (and ``on_train_batch_end`` for per-step callbacks, which make
``fit`` use the step-by-step reference executor). ``self.model`` is the model being
trained; setting ``self.model.stop_training = True`` ends the fit after the epoch (after
the current step when set in ``on_train_batch_end``).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from gdlab._checks import UserError, UserTypeError, check_positive_int, check_positive_number
from gdlab.train.trace import Trace

__all__ = [
    "Callback",
    "DivergenceGuard",
    "DivergenceWarning",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ProgressBar",
    "ReduceLROnPlateau",
]


class DivergenceWarning(UserWarning):
    """Training stopped because the loss became non-finite or exploded."""


class Callback:
    """Base class: every hook does nothing."""

    per_step = False  #: True if the callback needs ``on_train_batch_end``

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        """Attach the model being trained."""
        self.model = model

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Before each epoch (0-based)."""

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """After each step (only called for callbacks with ``per_step = True``)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """After each epoch, with its logs (loss, val_loss, metrics, learning_rate)."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the last epoch."""


class History(Callback):
    """Records each epoch's logs; returned by ``fit``.

    Attributes
    ----------
    history : dict of lists
        ``loss``, ``val_loss`` (with validation), metrics, ``learning_rate``, and
        ``grad_norm[l]`` (root mean square over the epoch's steps of layer l's gradient
        norm; with embeddings also ``grad_norm[0]``, the norm of all the tables' entries
        together, which make the input layer's values A⁰), one entry per epoch.
    epoch : list of int
    step_loss : list of ndarray
        The batch loss of every step, one array per epoch (the noise of SGD). With
        ``step_learning_rate`` it costs 16 bytes per step, whatever the model: 100 epochs
        of stochastic gradient descent (``batch_size=1``) on a million rows keep 1.6 GB.
        Use mini-batches there, or fit a few epochs at a time and keep what you need.
    step_learning_rate : list of ndarray
    trace : Trace
        The recorded steps (with ``fit(trace=True)`` or ``trace=N``): about three vectors
        of the size of θ each, plus the optimizer state and the rows of a shuffled batch.
        ``trace=True`` keeps at most :data:`gdlab.train.loop.TRACE_BUDGET_BYTES`.
    diverged : dict or None
        Where training diverged (epoch, step, loss, learning_rate), if it did.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.step_loss: list[np.ndarray] = []
        self.step_learning_rate: list[np.ndarray] = []
        self.trace = Trace()
        self.diverged: dict[str, Any] | None = None
        self.params: dict[str, Any] = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch: epoch and every logged value."""
        frame = pd.DataFrame(self.history)
        frame.insert(0, "epoch", self.epoch[:len(frame)])
        return frame

    def _repr_html_(self) -> str:
        from gdlab.train.notebook import history_html  # the notebook's view

        return history_html(self)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


def divergence_message(*, epoch: int, step: int | None, loss: float, learning_rate: float,
                       restored: str) -> str:
    """The one explanation of a divergence, shared by the step and epoch checks.

    ``epoch`` and ``step`` are 0-based, as stored in ``history.diverged``; the message
    counts from 1, like the progress bar ("Epoch 1/5") and the plots' epoch axis.
    """
    where = f"epoch {epoch + 1}" + (f", step {step + 1}" if step is not None else "")
    return (
        f"Training diverged at {where} (loss = {loss:.4g}): the learning rate "
        f"{learning_rate:g} is probably too large. θ was restored to {restored}. "
        f"Try learning_rate={learning_rate / 10:g} (10 times smaller)."
    )


def restored_description(epoch: int, loss: float | None = None, *,
                         state_reset: bool = False) -> str:
    """Describe θ at the end of ``epoch`` (0-based; -1 or less: θ at the start of fit),
    with its training loss when known and whether the optimizer's state was reset.
    The text counts epochs from 1."""
    where = (f"its value at the end of epoch {epoch + 1}" if epoch >= 0
             else "its value at the start of fit")
    if loss is not None:
        where += f" (training loss {loss:.4g})"
    if state_reset:
        where += "; the optimizer's state was reset (it was built at the diverging learning rate)"
    return where


class DivergenceGuard(Callback):
    """Stop when the epoch loss explodes: above ``factor`` × the loss at the initial θ.

    The loss at the initial θ₀, the yardstick, costs ``fit`` no pass over X of its own
    (``history.params["initial_loss"]``, on ``history.params["initial_loss_rows"]`` rows):

    * full batch: the loss on all training rows, which the first step computes with its
      gradient (the guard reads it at the end of the first epoch);
    * mini-batch and stochastic: the loss on at most 4096 evenly spaced training rows
      (:data:`gdlab.train.loop.YARDSTICK_ROWS`; all rows when there are fewer), given to
      ``on_train_begin`` as ``logs["initial_loss"]``. With more rows it is an estimate,
      whose error is far below the factor. (One batch's loss would be too noisy: a single
      row's can be near zero; the first epoch's loss would grow with a blow-up in it.)

    Neither a fast drop nor a blow-up during the first epoch moves the yardstick. Given
    neither (a loop of your own), the guard takes the first epoch's loss.

    Then θ goes back to an earlier epoch's (:meth:`restore`) and a
    :class:`DivergenceWarning` names the epoch and suggests a smaller learning rate.
    Non-finite losses or gradients are caught at the step itself by the training loop,
    which stops and restores a θ from here too.

    The guard keeps snapshots (θ, optimizer state, step count) at the end of the last two
    acceptable epochs: :attr:`good_theta` (the last) and :attr:`previous_theta` (the one
    before; the start of fit if there is none), and :attr:`start_theta`. ``fit`` gives it
    ``loss_at``, the training loss at the model's current θ: θ is restored to the latest
    of these whose training loss is finite and at most ``factor`` × the yardstick (any
    finite loss before the yardstick is known; the start of fit if none is). Without
    ``loss_at`` it trusts the losses the steps computed: :attr:`good_theta` if the current
    epoch's first step ran from it, else :attr:`previous_theta`.

    The optimizer's state (momentum's velocity, Adam's moments) is then reset: it was
    built on the diverging path, at the learning rate that diverged, and would carry a
    refit at a smaller learning rate uphill. The step count (the schedule's clock) is
    the snapshot's.
    """

    def __init__(self, factor: float = 1e4, *, loss_at: Callable[[], float] | None = None):
        super().__init__()
        self.factor = check_positive_number("factor", factor, hint="e.g. 1e4.")
        self.loss_at = loss_at  #: the training loss at the model's θ (set by fit)
        self._reference: float | None = None  # the yardstick, once known
        self.good_theta: Any = None  #: a model snapshot (θ, optimizer state, step count)
        self.previous_theta: Any = None
        self.start_theta: Any = None
        self.good_epoch = -1  #: the epoch at whose end θ was good_theta (-1: the start)
        self.restored: dict[str, Any] = {}  #: restored_epoch and restored_loss, once restored

    @property
    def reference(self) -> float | None:
        """The yardstick an epoch's loss is compared with (None until the first epoch ends)."""
        return self._reference

    def _threshold(self) -> float:
        return math.inf if self._reference is None else self.factor * self._reference

    def on_train_begin(self, logs=None):
        initial = (logs or {}).get("initial_loss")
        self._reference = None if initial is None else _yardstick(initial)
        self.good_theta = self.start_theta = self.model.snapshot()
        self.previous_theta = self.good_theta
        self.good_epoch = -1

    def restore(self, *, first_step_evaluated: bool) -> str:
        """Set θ back to an acceptable snapshot, reset the optimizer's state; describe it.

        ``first_step_evaluated``: whether the current epoch's first step ran from
        :attr:`good_theta` with a finite loss and gradient (else it is not a candidate).
        Returns the description for :func:`divergence_message`; :attr:`restored` holds
        the epoch (-1: the start of fit) and the training loss there (None if unknown).
        """
        candidates = [(self.good_epoch, self.good_theta)] if first_step_evaluated else []
        candidates += [(self.good_epoch - 1, self.previous_theta), (-1, self.start_theta)]
        for candidate, snapshot in candidates:
            self.model.restore(snapshot)
            epoch = max(candidate, -1)
            loss = None if self.loss_at is None else float(self.loss_at())
            if loss is None or (math.isfinite(loss) and loss <= self._threshold()):
                break
        state_reset = self.model.reset_optimizer_state()
        self.restored = {"restored_epoch": epoch, "restored_loss": loss}
        return restored_description(epoch, loss, state_reset=state_reset)

    def on_train_end(self, logs=None):
        self.loss_at = None  # it holds the training data: not kept (nor pickled) after fit

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss", math.nan)
        if self._reference is None:  # the first epoch's end: θ₀'s loss if its step saw all rows
            params = getattr(getattr(self.model, "history", None), "params", {})
            self._reference = _yardstick(params.get("initial_loss", loss))
        if math.isfinite(loss) and loss <= self._threshold():
            self.previous_theta, self.good_theta = self.good_theta, self.model.snapshot()
            self.good_epoch = epoch
            return
        # the epoch's first step ran from good_theta; with a full batch its loss is this
        # epoch's, so only an evaluated loss (loss_at) may take good_theta back
        restored = self.restore(first_step_evaluated=self.loss_at is not None)
        eta = float((logs or {}).get("learning_rate", math.nan))
        message = divergence_message(epoch=epoch, step=None, loss=loss, learning_rate=eta,
                                     restored=restored)
        self.model.history.diverged = {"epoch": epoch, "step": None, "loss": loss,
                                       "learning_rate": eta, "message": message,
                                       **self.restored}
        self.model.stop_training = True
        warnings.warn(message, DivergenceWarning, stacklevel=2)


def _yardstick(loss: float) -> float:
    """A loss as the guard's yardstick: at least 1e-12 (an exact fit), inf if not finite."""
    return max(abs(float(loss)), 1e-12) if math.isfinite(loss) else math.inf


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` (the default here, unlike Keras) θ is set back to
    the best epoch's at the end. ``monitor="val_loss"`` falls back to ``"loss"`` when
    there is no validation data.
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = check_positive_int("patience", patience, hint="e.g. 5 epochs.")
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.best_epoch: int | None = None  #: 0-based, like History.epoch

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.wait, self._best_theta = math.inf, None, 0, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss", math.nan))
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_theta = self.model.theta.copy()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_theta is not None:
            self.model.set_theta(self._best_theta)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch: ``schedule(epoch, lr) -> lr``."""

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        if not callable(schedule):
            raise UserTypeError("schedule must be a function (epoch, learning_rate) -> "
                                "learning_rate.")
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        current = optimizer.learning_rate_at(self.model.step_count)
        optimizer.learning_rate = float(self.schedule(epoch, current))


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(self, monitor: str = "val_loss", *, factor: float = 0.1, patience: int = 10,
                 min_learning_rate: float = 0.0) -> None:
        super().__init__()
        self.monitor = monitor
        self.factor = check_positive_number("factor", factor, hint="e.g. 0.1.")
        if self.factor >= 1.0:
            raise UserError(f"factor must be < 1 to reduce the learning rate; got "
                             f"factor={factor!r}. e.g. 0.1 or 0.5.")
        self.patience = check_positive_int("patience", patience, hint="e.g. 10 epochs.")
        self.min_learning_rate = float(min_learning_rate)

    def on_train_begin(self, logs=None):
        self.best, self.wait = math.inf, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss", math.nan))
        if value < self.best:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            optimizer = self.model.optimizer
            current = optimizer.learning_rate_at(self.model.step_count)
            optimizer.learning_rate = max(current * self.factor, self.min_learning_rate)
            self.wait = 0


class ProgressBar(Callback):
    """One line per epoch (redrawn in place on a terminal): loss, val_loss, time left."""

    def __init__(self, epochs: int, stream: Any = None) -> None:
        super().__init__()
        self.epochs = epochs
        self.stream = stream if stream is not None else sys.stdout

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        done = epoch + 1
        left = elapsed / done * (self.epochs - done)
        width = 20
        filled = int(width * done / self.epochs)
        bar = "█" * filled + "·" * (width - filled)
        values = " ".join(f"{k}={v:.5g}" for k, v in (logs or {}).items()
                          if k in ("loss", "val_loss") or k.startswith("val_") or k == "accuracy")
        line = f"Epoch {done}/{self.epochs} {bar} {values} {elapsed:.1f}s (left ~{left:.1f}s)"
        end = "\r" if self._tty and done < self.epochs else "\n"
        print(line, end=end, file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        if self._tty:
            print(file=self.stream, flush=True)
