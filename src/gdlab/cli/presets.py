r"""The model presets of ``gdlab fit`` and ``gdlab lr-sweep``: one per kind of target.

Every preset starts at the *null model*: the output layer's bias is the link of the
mean target (mean for linear, :math:`\log\frac{\bar y}{1-\bar y}` for logistic, the
log class frequencies for softmax, :math:`\log(\sum y / \sum e)` for the log-link
models), and without hidden layers the weights start at 0, so a GLM starts exactly at
the null deviance.
"""

from __future__ import annotations

import numpy as np

from gdlab.nn import losses as losses_module
from gdlab.nn.embedding import Inputs
from gdlab.nn.layers import Dense
from gdlab.optim import optimizers
from gdlab.optim.optimizers import Optimizer
from gdlab.train.model import Sequential
from gdlab.train.scores import null_bias

__all__ = ["KINDS", "LOG_LINK", "PRESETS", "build_model", "optimizer_from_name"]

#: model kind → (output activation, loss name)
PRESETS = {
    "linear": ("linear", "mse"),
    "logistic": ("sigmoid", "binary_crossentropy"),
    "softmax": ("softmax", "sparse_categorical_crossentropy"),
    "poisson": ("exponential", "poisson"),
    "gamma": ("exponential", "gamma"),
    "tweedie": ("exponential", "tweedie"),
}
KINDS = list(PRESETS)
LOG_LINK = ("poisson", "gamma", "tweedie")


def optimizer_from_name(name: str, learning_rate: float) -> Optimizer:
    """``--optimizer sgd|momentum|adam`` at ``--learning-rate``; momentum is SGD with 0.9."""
    return optimizers.get(name, learning_rate=learning_rate)


def build_model(kind: str, n_inputs: int, y: np.ndarray, *, exposure: np.ndarray | None,
                n_classes: int, hidden: list[int], activation: str, optimizer: Optimizer,
                seed: int, power: float = 1.5, inputs: Inputs | None = None) -> Sequential:
    """The preset model, compiled, starting at the null model (module docstring)."""
    output_activation, loss_name = PRESETS[kind]
    units = n_classes if kind == "softmax" else 1
    layers = [Dense(h, activation=activation, kernel_initializer="he_uniform"
                    if activation == "relu" else "glorot_uniform") for h in hidden]
    layers.append(Dense(units, activation=output_activation))
    model = Sequential(layers, input_dim=None if inputs else n_inputs, seed=seed, inputs=inputs)
    loss = losses_module.get(loss_name, power=power) if kind == "tweedie" else loss_name
    model.compile(loss=loss, optimizer=optimizer,
                  metrics=["accuracy"] if kind in ("logistic", "softmax") else [])
    output = model.layers[-1]
    output.b[...] = null_bias(output_activation, model.loss.check_target(y, units),
                              exposure=exposure)
    if not hidden:
        output.W[...] = 0.0
    return model
