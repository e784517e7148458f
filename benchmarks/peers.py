"""The tools gdlab is measured against; each trains one epoch and returns the seconds of its fit.

Every function takes the same arguments (``X``, ``y``, ``batch``: 1, k or ``"full"``,
``hidden``: ``()`` for logistic regression or ``(32, 16)`` for the MLP, ``seed``) and
returns the wall time of **the whole fit call** of that tool: whatever the tool does inside
its fit (shuffling, copying, converting, checking, computing the loss) is counted, for every
tool alike. Building the model object is not counted. PyTorch and Keras are optional
(``pip install -e ".[bench]"``): :func:`available` says which are installed. They run in
float32, as their users run them; gdlab and NumPy in float64.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings

import numpy as np

import gdlab as gd

LEARNING_RATE = 0.01


def available() -> dict[str, bool]:
    """Which optional peers are installed."""
    return {name: importlib.util.find_spec(module) is not None
            for name, module in (("pytorch", "torch"), ("keras", "keras"))}


def gdlab_model(hidden: tuple[int, ...], p: int, seed: int) -> gd.Sequential:
    """Logistic regression (no hidden layer) or an MLP p-hidden-1 with ReLU, sigmoid output."""
    layers = [gd.Dense(units, activation="relu") for units in hidden]
    model = gd.Sequential([*layers, gd.Dense(1, activation="sigmoid")], input_dim=p, seed=seed)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(LEARNING_RATE))
    return model


def gdlab_fit(executor: str):
    """One epoch of gdlab with the given executor ("compiled" or "numpy"): the whole fit."""

    def run(X, y, batch, hidden, seed):
        model = gdlab_model(hidden, X.shape[1], seed)
        start = time.perf_counter()
        model.fit(X, y, batch_size=batch, epochs=1, seed=seed, verbose=0, executor=executor)
        return time.perf_counter() - start

    return run


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def numpy_fast(X, y, batch, hidden, seed):
    """The NumPy loop a competent user writes: one permuted copy of X per epoch, contiguous
    slices, and per step the loss (recorded, as gdlab records it), the gradient, the update."""
    rng = np.random.default_rng(seed)
    sizes = [X.shape[1], *hidden, 1]
    Ws = [rng.normal(0, np.sqrt(2 / a), size=(a, b))
          for a, b in zip(sizes, sizes[1:], strict=False)]
    bs = [np.zeros(b) for b in sizes[1:]]
    n = X.shape[0]
    k = n if batch == "full" else batch
    start_time = time.perf_counter()
    if batch == "full":
        Xp, yp = X, y
    else:
        order = rng.permutation(n)
        Xp, yp = X[order], y[order]
    step_loss = np.empty(-(-n // k))
    for step, start in enumerate(range(0, n, k)):
        Xb, yb = Xp[start:start + k], yp[start:start + k]
        activations = [Xb]
        for W, b in zip(Ws[:-1], bs[:-1], strict=True):
            activations.append(np.maximum(activations[-1] @ W + b, 0.0))
        z = activations[-1] @ Ws[-1] + bs[-1]
        step_loss[step] = np.mean(np.logaddexp(0.0, z[:, 0]) - yb * z[:, 0])
        dZ = (_sigmoid(z) - yb[:, None]) / len(yb)
        for layer in range(len(Ws) - 1, -1, -1):
            dW, db = activations[layer].T @ dZ, dZ.sum(axis=0)
            if layer > 0:
                dZ = (dZ @ Ws[layer].T) * (activations[layer] > 0)
            Ws[layer] -= LEARNING_RATE * dW
            bs[layer] -= LEARNING_RATE * db
    return time.perf_counter() - start_time


def sklearn_sgd(X, y, batch, hidden, seed):
    """scikit-learn's SGDClassifier: logistic regression, one row per step."""
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(loss="log_loss", penalty=None, learning_rate="constant",
                          eta0=LEARNING_RATE, max_iter=1, tol=None, random_state=seed)
    return _timed_one_epoch_fit(model, X, y)


def sklearn_mlp(X, y, batch, hidden, seed):
    """scikit-learn's MLPClassifier with plain SGD, one epoch."""
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=hidden, solver="sgd", batch_size=batch,
                          learning_rate_init=LEARNING_RATE, momentum=0.0, alpha=0.0,
                          max_iter=1, shuffle=True, random_state=seed)
    return _timed_one_epoch_fit(model, X, y)


def _timed_one_epoch_fit(model, X, y):
    """Seconds of a scikit-learn fit with max_iter=1 (its ConvergenceWarning silenced)."""
    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return time.perf_counter() - start


def pytorch(X, y, batch, hidden, seed):
    """PyTorch's usual training loop (float32, CPU, SGD, a random permutation per epoch).

    On mini-batches PyTorch runs with one intra-op thread: on batches this small its
    thread pool only adds synchronisation (8× slower with two threads on a busy 2-core
    machine), so one thread is its strongest honest setting; a full batch uses them all.
    """
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)) if batch == "full" else 1)
    torch.manual_seed(seed)
    sizes = [X.shape[1], *hidden]
    layers: list = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    n = X.shape[0]
    k = n if batch == "full" else batch
    start = time.perf_counter()
    Xt = torch.from_numpy(X.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))[:, None]
    order = torch.randperm(n)
    for first in range(0, n, k):
        rows = order[first:first + k]
        optimizer.zero_grad()
        loss = loss_fn(model(Xt[rows]), yt[rows])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def keras(X, y, batch, hidden, seed):
    """Keras 3 ``model.fit`` for one epoch (float32, the configured backend, e.g. JAX)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before the first import of keras
    import keras as k

    k.utils.set_random_seed(seed)
    model = k.Sequential([k.Input((X.shape[1],)),
                          *[k.layers.Dense(units, activation="relu") for units in hidden],
                          k.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=k.optimizers.SGD(LEARNING_RATE))
    size = X.shape[0] if batch == "full" else batch
    start = time.perf_counter()
    model.fit(X.astype(np.float32), y.astype(np.float32), batch_size=size, epochs=1,
              verbose=0, shuffle=True)
    return time.perf_counter() - start


def read_x(X):
    """One float64 pass over X's memory (the floor of any full-batch epoch)."""
    start = time.perf_counter()
    X.sum()
    return time.perf_counter() - start
