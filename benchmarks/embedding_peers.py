r"""The tools gdlab's embedding network is measured against, each training one epoch.

The network (Schelldorfer & Wüthrich 2019, issue 15): 7 numeric columns and two categorical
columns (11 and 22 levels) through 2-dimensional embeddings, tanh layers (20, 15, 10), one
exponential output unit, the Poisson loss with exposure (:math:`\mu = e\,\exp(z)`, i.e. the
log-exposure as an offset of the output's pre-activation :math:`z`), Nadam (η = 0.001).

Every tool has a *factory* ``factory(batch, dtype)`` that returns its variants,
``{label: run}``; ``run(data, seed)`` trains one epoch on ``data`` (a :class:`Data`) and
returns the seconds of **its whole fit**: shuffling, copying, converting, the per-step
loss, the update. Building the model is not counted. When a tool has several honest
settings (the NumPy loop's scatter-add, threads), the caller times each once and keeps the
fastest. PyTorch and Keras (on JAX) are optional (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy

NUMERIC = 7
LEVELS = (11, 22)
DIM = 2
HIDDEN = (20, 15, 10)
#: widths of A⁰, A¹, …, the output: 7 numeric columns + 2 embeddings of dimension 2
SIZES = (NUMERIC + DIM * len(LEVELS), *HIDDEN, 1)
LEARNING_RATE = 0.001
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # Keras 3's Nadam, as gd.Nadam


@dataclass
class Data:
    """One data set in one dtype: numeric (n, 7), integer codes (n, 2), y, exposure,
    and X (n, 9) for gdlab: the numeric columns, then the codes as numbers."""

    numeric: np.ndarray
    codes: np.ndarray
    y: np.ndarray
    exposure: np.ndarray
    X: np.ndarray

    def head(self, rows: int) -> Data:
        """The first ``rows`` rows (views)."""
        return Data(self.numeric[:rows], self.codes[:rows], self.y[:rows],
                    self.exposure[:rows], self.X[:rows])

    @property
    def rows(self) -> int:
        return self.y.shape[0]


def available() -> dict[str, bool]:
    """Which optional peers are installed."""
    return {name: importlib.util.find_spec(module) is not None
            for name, module in (("pytorch", "torch"), ("keras", "keras"))}


def cores() -> int:
    return len(os.sched_getaffinity(0))


# --- the NumPy loop -------------------------------------------------------------------
def views(theta: np.ndarray) -> tuple[list, list, list]:
    """W, b and the tables E as views into a flat vector, in gdlab's θ order
    (W₁, b₁, …, W₄, b₄, E⁽¹⁾, E⁽²⁾, each row-major)."""
    Ws, bs, Es, start = [], [], [], 0
    for a, b in zip(SIZES, SIZES[1:], strict=False):
        Ws.append(theta[start:start + a * b].reshape(a, b))
        bs.append(theta[start + a * b:start + a * b + b])
        start += a * b + b
    for levels in LEVELS:
        Es.append(theta[start:start + levels * DIM].reshape(levels, DIM))
        start += levels * DIM
    return Ws, bs, Es


def n_params() -> int:
    return sum(a * b + b for a, b in zip(SIZES, SIZES[1:], strict=False)) + DIM * sum(LEVELS)


def initial_theta(seed: int, dtype) -> np.ndarray:
    """Glorot-uniform W, zero b, tables uniform on [−0.05, 0.05] (Keras's defaults)."""
    rng = np.random.default_rng(seed)
    theta = np.zeros(n_params(), dtype=dtype)
    Ws, _, Es = views(theta)
    for W in Ws:
        limit = np.sqrt(6.0 / sum(W.shape))
        W[...] = rng.uniform(-limit, limit, size=W.shape)
    for E in Es:
        E[...] = rng.uniform(-0.05, 0.05, size=E.shape)
    return theta


def _scatter(gE: np.ndarray, codes: np.ndarray, dA: np.ndarray, how: str) -> None:
    r""":math:`dE_{\ell} = \sum_{i: c_i = \ell} dA_i`, by np.bincount or np.add.at."""
    if how == "bincount":
        for u in range(DIM):
            gE[:, u] = np.bincount(codes, weights=dA[:, u], minlength=gE.shape[0])
    else:
        gE[...] = 0.0
        np.add.at(gE, codes, dA)


def _nadam(theta, grad, m, v, t: int, u_product: float) -> float:
    r"""One Nadam step on the flat θ, in place (Keras 3's rule, as gd.Nadam); returns
    :math:`\Pi_t`. :math:`u_t = \beta_1(1 - \tfrac12 0.96^t)`,
    :math:`\hat m = u_{t+1} m / (1 - \Pi_t u_{t+1}) + (1 - u_t)\nabla / (1 - \Pi_t)`,
    :math:`\Delta\theta = -\eta\,\hat m / (\sqrt{v / (1 - \beta_2^t)} + \epsilon)`."""
    u_t, u_next = BETA_1 * (1 - 0.5 * 0.96**t), BETA_1 * (1 - 0.5 * 0.96 ** (t + 1))
    u_product *= u_t
    m *= BETA_1
    m += (1 - BETA_1) * grad
    v *= BETA_2
    v += (1 - BETA_2) * grad * grad
    m_hat = (u_next / (1 - u_product * u_next)) * m + ((1 - u_t) / (1 - u_product)) * grad
    theta -= LEARNING_RATE * m_hat / (np.sqrt(v / (1 - BETA_2**t)) + EPSILON)
    return u_product


def numpy_epoch(data: Data, batch: int, theta: np.ndarray, order: np.ndarray,
                scatter: str = "bincount") -> np.ndarray:
    r"""One epoch of the loop a competent NumPy user writes; θ is updated in place and the
    per-step losses (mean Poisson deviance, as gdlab records them) are returned.

    One permuted copy of the data per epoch, then contiguous slices. Forward:
    :math:`A^{(0)} = [x, E^{(1)}[c_1], E^{(2)}[c_2]]` (fancy indexing),
    :math:`A^{(l)} = \tanh(A^{(l-1)} W_l + b_l)`,
    :math:`\log\mu = A^{(3)} W_4 + b_4 + \log e`. Backward: :math:`dZ_4 = 2(\mu - y)/m`,
    :math:`dW_l = A^{(l-1)\top} dZ_l`, :math:`dZ_{l-1} = dZ_l W_l^\top \odot (1 - A^2)`,
    and the tables' rows of :math:`dZ_1 W_1^\top` scatter-added into dE.
    """
    Ws, bs, Es = views(theta)
    grad = np.zeros_like(theta)
    gWs, gbs, gEs = views(grad)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    Xp, Cp, yp = data.numeric[order], data.codes[order], data.y[order]
    log_e = np.log(data.exposure[order])
    constant = 2.0 * (xlogy(yp, yp) - yp)  # the deviance's terms free of μ
    n, u_product = len(yp), 1.0
    step_loss = np.empty(-(-n // batch))
    for step, first in enumerate(range(0, n, batch)):
        rows = slice(first, first + batch)
        codes = Cp[rows]
        A = [np.concatenate([Xp[rows], Es[0][codes[:, 0]], Es[1][codes[:, 1]]], axis=1)]
        for W, b in zip(Ws[:-1], bs[:-1], strict=True):
            A.append(np.tanh(A[-1] @ W + b))
        log_mu = (A[-1] @ Ws[-1])[:, 0] + bs[-1] + log_e[rows]
        mu = np.exp(log_mu)
        y = yp[rows]
        step_loss[step] = np.mean(constant[rows] + 2.0 * (mu - y * log_mu))
        dZ = ((2.0 / len(y)) * (mu - y))[:, None]
        for layer in range(len(Ws) - 1, 0, -1):
            np.matmul(A[layer].T, dZ, out=gWs[layer])
            dZ.sum(axis=0, out=gbs[layer])
            dZ = (dZ @ Ws[layer].T) * (1.0 - A[layer] * A[layer])
        np.matmul(A[0].T, dZ, out=gWs[0])
        dZ.sum(axis=0, out=gbs[0])
        dA = dZ @ Ws[0][NUMERIC:].T  # only the embeddings' columns of dA⁰
        for k, gE in enumerate(gEs):
            _scatter(gE, codes[:, k], dA[:, k * DIM:(k + 1) * DIM], scatter)
        u_product = _nadam(theta, grad, m, v, step + 1, u_product)
    return step_loss


def numpy_loop(batch: int, dtype) -> dict:
    """The NumPy loop, with each scatter-add and with 1 or all BLAS threads."""
    from threadpoolctl import threadpool_limits

    def variant(scatter: str, threads: int):
        def run(data: Data, seed: int) -> float:
            theta = initial_theta(seed, dtype)
            with threadpool_limits(threads, user_api="blas"):
                start = time.perf_counter()
                order = np.random.default_rng(seed).permutation(data.rows)
                numpy_epoch(data, batch, theta, order, scatter)
                return time.perf_counter() - start
        return run

    threads = sorted({1, cores()})
    return {f"{scatter}, {t} BLAS thread{'s' * (t > 1)}": variant(scatter, t)
            for scatter in ("bincount", "add.at") for t in threads}


# --- PyTorch ---------------------------------------------------------------------------
def _torch_model(torch):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tables = torch.nn.ModuleList(torch.nn.Embedding(L, DIM) for L in LEVELS)
            layers = []
            for a, b in zip(SIZES[:-2], SIZES[1:-1], strict=True):
                layers += [torch.nn.Linear(a, b), torch.nn.Tanh()]
            self.dense = torch.nn.Sequential(*layers, torch.nn.Linear(SIZES[-2], 1))

        def forward(self, x, codes, log_e):  # the log of μ = e exp(z)
            parts = [x, *(table(codes[:, k]) for k, table in enumerate(self.tables))]
            return self.dense(torch.cat(parts, dim=1))[:, 0] + log_e

    return Net()


def pytorch(batch: int, dtype) -> dict:
    """PyTorch's usual loop: nn.Embedding, nn.Linear, tanh, PoissonNLLLoss(log_input=True)
    on z + log e, torch.optim.NAdam; one permuted copy per epoch; the loss read each step.
    With all cores' threads and with one (the faster is kept)."""
    import torch

    def variant(threads: int):
        def run(data: Data, seed: int) -> float:
            torch.set_num_threads(threads)
            torch.manual_seed(seed)
            model = _torch_model(torch)
            optimizer = torch.optim.NAdam(model.parameters(), lr=LEARNING_RATE)
            loss_fn = torch.nn.PoissonNLLLoss(log_input=True, full=False)
            start = time.perf_counter()
            order = torch.randperm(data.rows)
            x = torch.from_numpy(data.numeric)[order]
            codes = torch.from_numpy(data.codes)[order]
            y = torch.from_numpy(data.y)[order]
            log_e = torch.log(torch.from_numpy(data.exposure))[order]
            total = 0.0
            for first in range(0, data.rows, batch):
                rows = slice(first, first + batch)
                optimizer.zero_grad()
                loss = loss_fn(model(x[rows], codes[rows], log_e[rows]), y[rows])
                loss.backward()
                optimizer.step()
                total += loss.item()
            return time.perf_counter() - start
        return run

    return {f"{t} thread{'s' * (t > 1)}": variant(t) for t in sorted({cores(), 1}, reverse=True)}


# --- Keras -----------------------------------------------------------------------------
def _keras_model(k):
    numeric = k.Input((NUMERIC,), name="numeric")
    codes = [k.Input((1,), dtype="int32", name=f"c{i}") for i in range(len(LEVELS))]
    log_e = k.Input((1,), name="log_exposure")
    parts = [numeric] + [k.layers.Flatten()(k.layers.Embedding(L, DIM)(c))
                         for L, c in zip(LEVELS, codes, strict=True)]
    A = k.layers.Concatenate()(parts)
    for units in HIDDEN:
        A = k.layers.Dense(units, activation="tanh")(A)
    z = k.layers.Dense(1)(A)
    mu = k.layers.Activation("exponential")(k.layers.Add()([z, log_e]))  # μ = e exp(z)
    model = k.Model([numeric, *codes, log_e], mu)
    model.compile(loss="poisson", optimizer=k.optimizers.Nadam(LEARNING_RATE))
    return model


def keras(batch: int, dtype) -> dict:
    """Keras 3 on JAX: Embedding, Concatenate, Dense, the log-exposure as an input added
    to z before the exponential, loss "poisson", Nadam; ``model.fit`` for one epoch
    (shuffle=True). The model is built once per batch size and reused, so its tracing
    happens in the warm-up (as numba's compiling for gdlab), not in the timed fits."""
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before the first import of keras
    import keras as k

    k.utils.set_random_seed(0)
    model = _keras_model(k)

    def run(data: Data, seed: int) -> float:
        start = time.perf_counter()
        codes = data.codes.astype(np.int32)
        inputs = [data.numeric, codes[:, :1], codes[:, 1:], np.log(data.exposure)[:, None]]
        model.fit(inputs, data.y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        return time.perf_counter() - start

    return {"": run}
