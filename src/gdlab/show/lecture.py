r"""The lecture's worked examples, computed by the library itself.

Each example of the lecture *Optimisation* (Deep Learning for Actuaries) is rebuilt
here by calling gdlab, never by hand-written arithmetic:

* ``sigmoid``: logistic regression's forward pass :math:`z = Xw + b`,
  :math:`\hat{y} = \sigma(z)` on three rows;
* ``softmax``: softmax regression's forward pass :math:`Z = XW + b`,
  :math:`\hat{Y} = \text{Softmax}(Z)`;
* ``sgd``: two iterations of stochastic gradient descent on :math:`\hat{y} = wx + b`
  (:math:`\eta = 0.01`), ending at :math:`\boldsymbol{\theta}_2 = (2.732, 0.348)`;
* ``batch-gd``: two iterations of batch gradient descent on three rows
  (:math:`\eta = 0.1`) with the per-row tables, from a ``fit(trace=True)``.

:func:`render` returns the text that ``gdlab lecture [EXAMPLE]`` prints.

Examples
--------
>>> print(render("sgd").splitlines()[-1])
New θ: θ₂ = (2.732, 0.348)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdlab._checks import UserError
from gdlab._typing import FloatArray
from gdlab.nn.layers import Dense
from gdlab.optim.optimizers import SGD
from gdlab.train.model import Sequential
from gdlab.train.trace import Step, Trace, format_number

__all__ = ["EXAMPLES", "ForwardPass", "batch_gd_data", "batch_gd_iterations", "render",
           "sgd_iterations", "sigmoid_forward", "softmax_forward"]

#: The worked examples, in the lecture's order: name → one-line description.
EXAMPLES: dict[str, str] = {
    "sigmoid": "Logistic regression's forward pass: z = Xw + b, y_hat = sigmoid(z), 3 rows.",
    "softmax": "Softmax regression's forward pass: Z = XW + b, Y_hat = Softmax(Z), 3 rows.",
    "sgd": "Two iterations of stochastic gradient descent on y_hat = w x + b (eta = 0.01).",
    "batch-gd": "Two iterations of batch gradient descent on 3 rows (eta = 0.1), with tables.",
}

#: The lecture's three rows for logistic and softmax regression.
_X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


@dataclass(frozen=True)
class ForwardPass:
    """One forward pass: the model, its data, ``Z = XW + b`` and ``A = φ(Z)``."""

    model: Sequential
    X: FloatArray
    y: FloatArray
    Z: FloatArray
    A: FloatArray


def _forward(layer: Dense, weights: list[FloatArray], y: FloatArray) -> ForwardPass:
    model = Sequential([layer], input_dim=_X.shape[1])
    model.set_weights(weights)
    A, caches = model.forward(_X)
    return ForwardPass(model, _X, y, caches[0].Z, A)


def sigmoid_forward() -> ForwardPass:
    """Logistic regression with :math:`w = (1, 2)`, :math:`b = -10`: ŷ = (0.01, 0.73, 1.00)."""
    return _forward(Dense(1, activation="sigmoid"), [np.array([[1.0], [2.0]]), np.array([-10.0])],
                    np.array([0.0, 1.0, 1.0]))


def softmax_forward() -> ForwardPass:
    """Softmax regression with :math:`W = ((1, 3), (2, 4))`, :math:`b = (-10, -20)`."""
    return _forward(Dense(2, activation="softmax"),
                    [np.array([[1.0, 3.0], [2.0, 4.0]]), np.array([-10.0, -20.0])],
                    np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))


def _linear_model(learning_rate: float) -> Sequential:
    """:math:`\\hat{y} = wx + b` with squared error, starting at θ₀ = (0, 0)."""
    model = Sequential([Dense(1)], input_dim=1)
    model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer=SGD(learning_rate=learning_rate))
    return model


def sgd_iterations() -> list[Step]:
    """The lecture's two SGD steps: (x, y) = (5, 5) then (9, 17), η = 0.01, from θ₀ = 0."""
    model = _linear_model(0.01)
    return [model.train_on_batch(np.array([[x]]), np.array([y])) for x, y in ((5.0, 5.0),
                                                                             (9.0, 17.0))]


def batch_gd_data() -> tuple[FloatArray, FloatArray]:
    """The lecture's three rows: x = 1, 2, 3 and y = 2x − 1 + 0.01 ε.

    ε are the lecture's draws, ``numpy.random.seed(111); numpy.random.randn(3)``
    (NumPy's legacy generator, whose stream never changes), so y = (0.99, 3.00, 5.01).
    """
    x = np.arange(1.0, 4.0)
    noise = np.random.RandomState(111).randn(3)  # the lecture's own draw, not gdlab's rng
    return x[:, None], 2 * x - 1 + 0.01 * noise


def batch_gd_iterations() -> Trace:
    """The lecture's two batch-GD steps (η = 0.1, θ₀ = 0), as recorded by ``fit(trace=True)``."""
    X, y = batch_gd_data()
    model = _linear_model(0.1)
    return model.fit(X, y, batch_size="full", epochs=2, trace=True, verbose=0).trace


# --- rendering ---------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _data_table(X: FloatArray, y: FloatArray, decimals: int | None = None) -> str:
    Y = y.reshape(len(y), -1)
    xs = ["x"] if X.shape[1] == 1 else [f"x_{j + 1}" for j in range(X.shape[1])]
    ys = ["y"] if Y.shape[1] == 1 else [f"y_{j + 1}" for j in range(Y.shape[1])]
    rows = [[str(i), *(format_number(v, None) for v in X[i]),
             *(format_number(v, decimals) for v in Y[i])] for i in range(len(X))]
    return _table(["row", *xs, *ys], rows)


def _column(values: FloatArray, fmt: str | None = None) -> str:
    cells = [format_number(v, 2) if fmt is None else format(v, fmt) for v in values.ravel()]
    return "(" + ", ".join(cells) + ")"


def _matrix(W: FloatArray) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:g}" for v in row) + "]" for row in W) + "]"


def _render_sigmoid() -> str:
    run = sigmoid_forward()
    w, b = run.model.get_weights()
    return "\n".join([
        "Data:", _data_table(run.X, run.y), "",
        f"Parameters: w = (w_1, w_2) = {_column(w, 'g')}, b = {b[0]:g}", "",
        f"z = Xw + b = {_column(run.Z, 'g')}",
        f"y_hat = sigmoid(z) = 1 / (1 + exp(-z)) = {_column(run.A)}",
    ])


def _render_softmax() -> str:
    run = softmax_forward()
    W, b = run.model.get_weights()
    names = run.model.param_names
    named = ", ".join(f"{n} = {v:g}" for n, v in zip(names, run.model.theta, strict=True))
    rows_z = [[str(i), *(f"{v:g}" for v in run.Z[i])] for i in range(len(run.Z))]
    rows_a = [[str(i), *(f"{v:.2e}" for v in run.A[i])] for i in range(len(run.A))]
    return "\n".join([
        "Data:", _data_table(run.X, run.y), "",
        f"Parameters: W = {_matrix(W)}, b = {_column(b, 'g')} ({named})", "",
        "Z = XW + b:", _table(["row", "z_1", "z_2"], rows_z), "",
        "Y_hat = Softmax(Z), row by row exp(z_j) / sum_k exp(z_k):",
        _table(["row", "y_hat_1", "y_hat_2"], rows_a),
    ])


def _render_sgd() -> str:
    steps = sgd_iterations()
    parts = ["The lecture picks i = 5 (x = 5, y = 5), then i = 9 (x = 9, y = 17).", ""]
    for step in steps:
        parts.append(step.to_markdown(decimals=None))
    return "\n".join(parts).rstrip("\n")


def _render_batch_gd() -> str:
    X, y = batch_gd_data()
    parts = ["Data (y = 2x - 1 + 0.01 noise, the lecture's numpy.random.seed(111)):",
             _data_table(X, y, decimals=2), ""]
    for step in batch_gd_iterations():
        parts.append(step.to_markdown(decimals=2))
    return "\n".join(parts).rstrip("\n")


_RENDERERS = {"sigmoid": _render_sigmoid, "softmax": _render_softmax, "sgd": _render_sgd,
              "batch-gd": _render_batch_gd}


def render(example: str | None = None) -> str:
    """The text of ``gdlab lecture [EXAMPLE]``: one example, or all in the lecture's order.

    Each example shows the data, the parameters, the per-row table, the gradient, the
    update and the new θ, rounded as the lecture prints them.

    Raises
    ------
    ValueError
        If ``example`` is not one of :data:`EXAMPLES`.
    """
    if example is None:
        names = list(EXAMPLES)
    elif example in EXAMPLES:
        names = [example]
    else:
        raise UserError(f"Unknown lecture example {example!r}; choose one of "
                        f"{', '.join(EXAMPLES)} (or none for all).")
    sections = [f"## {name}: {EXAMPLES[name]}\n\n{_RENDERERS[name]()}\n" for name in names]
    return "\n".join(sections)
