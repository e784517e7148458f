r"""CANN: a frozen GLM plus a network that learns what the GLM misses (Schelldorfer & Wüthrich).

The Combined Actuarial Neural Network predicts

.. math:: \mu_i = e_i \cdot \mu^{\text{GLM}}(x_i) \cdot \exp\big(z^{\text{NN}}(x_i)\big),
          \qquad \log \mu_i = \log e_i + \underbrace{\log \mu^{\text{GLM}}(x_i)}_{\text{offset}}
          + z^{\text{NN}}(x_i)

where :math:`z^{\text{NN}}` is the pre-activation of the network's output unit. The GLM
is fitted first and then frozen: its linear predictor is an offset. With a log-link loss
(Poisson, Gamma, Tweedie through an ``"exponential"`` output) the exposure already
enters as such an offset (:math:`\log\mu = z + \log e`), so the offset is folded into
it, exactly:

.. math:: e'_i = e_i \cdot \mu^{\text{GLM}}(x_i)

and the network is trained by the ordinary ``fit`` with exposure :math:`e'`; both
executors, traces and callbacks work unchanged. The network's output layer starts at
zero (:math:`W = 0, b = 0`, so :math:`z^{\text{NN}} = 0`): training starts exactly at the
GLM's predictions. (At the first step only the output layer moves, since
:math:`dA = dZ\,W^\top = 0`; from the second step on every layer learns.)

Examples
--------
>>> import numpy as np, gdlab as gd
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 2)); e = rng.uniform(0.5, 1, 200)
>>> y = rng.poisson(e * np.exp(0.5 * X[:, 0] + 0.4 * X[:, 1] ** 2))
>>> glm = gd.Sequential([gd.Dense(1, "exponential")], input_dim=2, seed=0)
>>> glm.compile(loss="poisson", optimizer=gd.Nadam(0.05))
>>> _ = glm.fit(X, y, exposure=e, batch_size="full", epochs=200, verbose=0)
>>> net = gd.Sequential([gd.Dense(4, "tanh"), gd.Dense(1, "exponential")], input_dim=2)
>>> model = gd.cann(glm, net)
>>> bool(np.allclose(model.predict(X, exposure=e), glm.predict(X, exposure=e)))
True
>>> model.compile(loss="poisson", optimizer=gd.Nadam(0.02))
>>> _ = model.fit(X, y, exposure=e, batch_size=50, epochs=30, verbose=0)
>>> bool(model.evaluate(X, y, exposure=e) < glm.evaluate(X, y, exposure=e))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab._checks import UserError, UserTypeError
from gdlab._typing import FloatArray
from gdlab.io.data import check_exposure
from gdlab.nn import losses as losses_module
from gdlab.train.callbacks import History
from gdlab.train.model import Sequential

__all__ = ["CANN", "cann", "check_log_link_output"]

#: the losses whose exposure is a log offset (μ = e · exp(z) through an exponential output)
LOG_LINK_LOSSES = ("poisson", "gamma", "tweedie")


def check_log_link_output(model: Any, role: str) -> None:
    """Refuse a model whose last layer is not one ``"exponential"`` unit with a bias."""
    if not isinstance(model, Sequential):
        raise UserTypeError(f"{role} must be a gdlab.Sequential; got {type(model).__name__}.")
    last = model.layers[-1]
    if last.units != 1 or last.activation.name != "exponential" or not last.use_bias:
        raise UserError(
            f"{role} must end in one 'exponential' unit with a bias (a log-link rate model, "
            f"e.g. gd.Dense(1, activation='exponential')); its last layer is {last!r}."
        )


class CANN:
    r"""A frozen GLM and a network: :math:`\mu = e \cdot \mu^{\text{GLM}} \cdot e^{z^{\text{NN}}}`.

    Made by :func:`cann`. ``fit``, ``evaluate`` and ``predict`` take the network's
    inputs ``X`` and, when the GLM reads other columns, the GLM's inputs ``glm_X``
    (default: ``X``).

    Attributes
    ----------
    glm : Sequential
        Frozen: never trained here.
    network : Sequential
        Trained with exposure :math:`e \cdot \mu^{\text{GLM}}` (see the module's notes).
    """

    def __init__(self, glm: Sequential, network: Sequential) -> None:
        self.glm = glm
        self.network = network

    @property
    def history(self) -> History:
        """The network's history of its last fit."""
        return self.network.history

    def offset_exposure(self, X: Any, *, glm_X: Any = None, exposure: Any = None) -> FloatArray:
        r"""The folded exposure :math:`e'_i = e_i\,\mu^{\text{GLM}}(x_i)` (e = 1 if omitted)."""
        glm_rows = X if glm_X is None else glm_X
        rate = self.glm.predict(glm_rows)[:, 0]
        e = check_exposure(exposure, rate.shape[0], loss_name="poisson", accepts=True)
        folded = rate if e is None else e * rate
        if not np.all(folded > 0):
            rows = np.flatnonzero(~(folded > 0))
            raise UserError(
                f"the GLM's rate underflows to 0 on {rows.size} row(s) (rows "
                f"{rows[:5].tolist()}); the offset log μ_GLM must be finite."
            )
        return folded

    def compile(self, loss: str | losses_module.Loss = "poisson", optimizer: Any = "nadam",
                **kwargs: Any) -> None:
        """Compile the network; the loss must have a log link (Poisson, Gamma, Tweedie)."""
        name = losses_module.get(loss).name
        if name not in LOG_LINK_LOSSES:
            raise UserError(
                f"a CANN needs a log-link loss ({', '.join(LOG_LINK_LOSSES)}), where the "
                f"GLM's prediction is a multiplicative offset; got loss={name!r}."
            )
        self.network.compile(loss=loss, optimizer=optimizer, **kwargs)

    def fit(self, X: Any, y: Any, *, glm_X: Any = None, exposure: Any = None,
            **kwargs: Any) -> History:
        """Train the network with the GLM's rate folded into the exposure.

        Keyword arguments go to :meth:`Sequential.fit` (``validation_split`` splits the
        rows after folding; ``validation_data`` would need its own offset and is refused).
        """
        if kwargs.get("validation_data") is not None:
            raise UserError(
                "CANN.fit does not take validation_data (its rows need the GLM's offset "
                "too); use validation_split=, or evaluate the held-out rows afterwards."
            )
        folded = self.offset_exposure(X, glm_X=glm_X, exposure=exposure)
        return self.network.fit(X, y, exposure=folded, **kwargs)

    def evaluate(self, X: Any, y: Any, *, glm_X: Any = None, exposure: Any = None,
                 sample_weight: Any = None) -> Any:
        """The network's loss (and metrics) at :math:`\\mu = e\\,\\mu^{GLM} e^{z}`."""
        folded = self.offset_exposure(X, glm_X=glm_X, exposure=exposure)
        return self.network.evaluate(X, y, exposure=folded, sample_weight=sample_weight)

    def predict(self, X: Any, *, glm_X: Any = None, exposure: Any = None) -> FloatArray:
        """μ = e · μ_GLM · exp(z), shape (n, 1); without exposure, the rate μ_GLM · exp(z)."""
        folded = self.offset_exposure(X, glm_X=glm_X, exposure=exposure)
        return self.network.predict(X, exposure=folded)

    def __repr__(self) -> str:
        return f"CANN(glm={self.glm!r}, network={self.network!r})"


def cann(glm: Sequential, network: Sequential, *, start_at_glm: bool = True) -> CANN:
    r"""Nest a fitted GLM into a network: :math:`\mu = e\,\mu^{\text{GLM}} \exp(z^{\text{NN}})`.

    Parameters
    ----------
    glm : Sequential
        A fitted log-link model (last layer one ``"exponential"`` unit): any gdlab model
        whose prediction is a rate, frozen from now on.
    network : Sequential
        The network; its last layer must be one ``"exponential"`` unit with a bias. It
        is built now if needed (its input width must then be known: ``input_dim=``).
    start_at_glm : bool, default True
        Set the network's output layer to zero, so that the CANN starts exactly at the
        GLM. Pass False to nest an already trained network (e.g. loaded from a file).

    Returns
    -------
    CANN
    """
    check_log_link_output(glm, "glm")
    check_log_link_output(network, "network")
    if not glm.built:
        raise UserError("glm is not fitted yet: fit it (or load it) before nesting it.")
    if not network.built:
        raise UserError("network has no input dimension yet: pass input_dim= (or inputs=) "
                         "to its Sequential.")
    if start_at_glm:
        theta = network.theta.copy()
        theta[network.layer_slices()[-1]] = 0.0  # W and b of the output unit: z = 0
        network.set_theta(theta)
    return CANN(glm, network)
