r"""The records the compiled kernels take: the data, the network, the loss, the optimizer.

Each is a ``NamedTuple`` of scalars and arrays, which numba passes to compiled code as
one argument (its fields read by name: ``net.layout``, ``opt.beta_1``). They are built
here, in Python, from the model (:func:`network_spec`, :func:`loss_spec`,
:func:`optimizer_spec`), once per ``fit``.

The network's shape is a ``layout`` array with one row per layer::

    [inputs, units, offset of W in θ, offset of b in θ (-1: no bias),
     offset of the layer in the row buffers, offset of its input in the row buffers]

The row buffers ``A`` and ``Z`` hold the input row :math:`A^{(0)}` at ``[0, p)`` and then
each layer's values; ``dZ`` and ``dA`` hold the derivatives at the same offsets. With
embeddings (:mod:`gdlab.nn.embedding`) X holds ``numeric`` numbers and then one code
column per table; table k (``emb_dim[k]`` columns, at ``emb_theta[k]`` in θ, row-major)
fills columns ``emb_a[k]`` … of :math:`A^{(0)}`, so p is the first layer's width, not X's.
Without embeddings the four ``emb_`` arrays are empty.

Examples
--------
>>> import gdlab as gd
>>> model = gd.Sequential([gd.Dense(3, "relu"), gd.Dense(1)], input_dim=2)
>>> network_spec(model).layout.tolist()
[[2, 3, 0, 6, 2, 0], [3, 1, 9, 12, 5, 2]]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from gdlab._typing import FloatArray
from gdlab.kernels import codes
from gdlab.nn import losses
from gdlab.optim import optimizers, schedules

__all__ = ["Data", "LossSpec", "Moments", "Network", "OptimizerSpec", "Records", "loss_spec",
           "moments", "network_spec", "optimizer_spec", "state_from"]


class Data(NamedTuple):
    """The training rows: X (n, p), Y (n, k), and w, e of shape (n,) or empty (none)."""

    X: FloatArray
    Y: FloatArray
    w: FloatArray  #: sample weights (empty: every row weighs 1)
    e: FloatArray  #: exposure (empty: 1)


class Network(NamedTuple):
    """The network's shape: the layer table, each layer's end in θ, its activation code,
    and the embedding tables (empty arrays without embeddings).

    ``layer_end`` ends the groups of θ whose gradient norms are recorded: each layer, then
    (with embeddings) all the tables together.
    """

    layout: NDArray[np.int64]
    layer_end: NDArray[np.int64]
    activations: NDArray[np.int64]
    numeric: int  #: X's numeric columns (the code columns follow)
    emb_theta: NDArray[np.int64]  #: each table's offset in θ
    emb_dim: NDArray[np.int64]  #: each table's dimension d
    emb_a: NDArray[np.int64]  #: each table's first column in A⁰


class LossSpec(NamedTuple):
    """The loss: its code, whether it is computed from the logits, Tweedie's power."""

    code: int
    fused: bool  #: the output activation is the loss's link (:data:`losses.FUSED_LINK`)
    power: float


class OptimizerSpec(NamedTuple):
    r"""The update rule, its hyper-parameters and the learning-rate schedule.

    The schedule: :math:`\eta_0`, then ``steps`` (StepDecay's ``every``, the others'
    ``decay_steps``), ``factor`` (``factor`` or ``decay_rate``) and ``staircase``.
    """

    rule: int
    nesterov: bool
    momentum: float
    beta_1: float
    beta_2: float
    epsilon: float
    rho: float
    schedule: int
    eta0: float
    steps: float
    factor: float
    staircase: bool


class Moments(NamedTuple):
    r"""The optimizer state's arrays in the kernels: Adam's and Nadam's m and v; else
    (velocity or s, −); ``product``: Nadam's :math:`\prod_{i \le t} u_i` (one entry)."""

    first: FloatArray
    second: FloatArray
    product: FloatArray


class Records(NamedTuple):
    """What an epoch records per step (and per layer: the summed squared gradient norms)."""

    step_loss: FloatArray
    step_eta: FloatArray
    batch_weight: FloatArray
    grad_sq: FloatArray


def network_spec(model: Any) -> Network:
    """The :class:`Network` record of a built model (layer table documented above)."""
    rows, ends, acts = [], [], []
    start, buffer, prev = 0, model.layers[0].input_dim, 0
    for layer in model.layers:
        n_w = layer.input_dim * layer.units
        bias = start + n_w if layer.use_bias else -1
        rows.append((layer.input_dim, layer.units, start, bias, buffer, prev))
        start += layer.n_params
        ends.append(start)
        acts.append(codes.ACTIVATION_CODES[layer.activation.name])
        prev, buffer = buffer, buffer + layer.units
    numeric, tables = model.input_dim, []
    if model.inputs is not None:  # the tables follow the layers in θ, and the numbers in A⁰
        numeric, column = model.inputs.numeric, model.inputs.numeric
        for embedding in model.inputs.categorical:
            tables.append((start, embedding.output_dim, column))
            start += embedding.n_params
            column += embedding.output_dim
        ends.append(start)
    theta_off, dim, a_off = np.array(tables, dtype=np.int64).reshape(-1, 3).T.copy()
    return Network(np.array(rows, dtype=np.int64), np.array(ends, dtype=np.int64),
                   np.array(acts, dtype=np.int64), numeric, theta_off, dim, a_off)


def loss_spec(model: Any) -> LossSpec:
    """The :class:`LossSpec` record of a compiled model."""
    loss = model.loss
    fused = losses.FUSED_LINK[loss.name] == model.layers[-1].activation.name
    return LossSpec(codes.LOSS_CODES[loss.name], fused, float(getattr(loss, "power", 0.0)))


def optimizer_spec(optimizer: Any) -> OptimizerSpec:
    """The :class:`OptimizerSpec` record of an SGD, Adam or RMSprop optimizer."""
    hyper = {"nesterov": False, "momentum": 0.0, "beta_1": 0.0, "beta_2": 0.0,
             "epsilon": 0.0, "rho": 0.0}
    if isinstance(optimizer, optimizers.SGD):
        momentum = optimizer.momentum != 0.0 or optimizer.nesterov
        rule = codes.MOMENTUM if momentum else codes.SGD
        hyper.update(nesterov=optimizer.nesterov, momentum=optimizer.momentum)
    elif isinstance(optimizer, optimizers.Adam | optimizers.Nadam):
        rule = codes.ADAM if isinstance(optimizer, optimizers.Adam) else codes.NADAM
        hyper.update(beta_1=optimizer.beta_1, beta_2=optimizer.beta_2,
                     epsilon=optimizer.epsilon)
    else:
        rule = codes.RMSPROP
        hyper.update(epsilon=optimizer.epsilon, rho=optimizer.rho)
    schedule = optimizer.schedule
    steps, factor, staircase = 0.0, 0.0, False
    if isinstance(schedule, schedules.StepDecay):
        steps, factor = schedule.every, schedule.factor
    elif not isinstance(schedule, schedules.Constant):
        steps, factor = schedule.decay_steps, schedule.decay_rate
        staircase = schedule.staircase
    return OptimizerSpec(rule=rule, **hyper, schedule=codes.SCHEDULE_CODES[schedule.kind],
                         eta0=float(schedule.initial_learning_rate), steps=float(steps),
                         factor=float(factor), staircase=bool(staircase))


def moments(state: Any) -> tuple[Moments, int]:
    """A copy of the optimizer state (:mod:`gdlab.optim.optimizers`): its arrays, Adam's t."""
    t = state.t if isinstance(state, optimizers.AdamState | optimizers.NadamState) else 0
    if isinstance(state, optimizers.AdamState | optimizers.NadamState):
        first, second = state.m.copy(), state.v.copy()
    else:
        first = (state.s if isinstance(state, optimizers.RMSpropState) else state.velocity).copy()
        second = np.empty(0, dtype=first.dtype)  # one type per dtype: one compile
    product = (np.array([state.u_product]) if isinstance(state, optimizers.NadamState)
               else np.empty(0))
    return Moments(first, second, product), t


def state_from(moments: Moments, t: int, state: Any) -> Any:
    """The optimizer state of the type of ``state`` holding ``moments`` after ``t`` steps."""
    if isinstance(state, optimizers.AdamState):
        return optimizers.AdamState(t, moments.first, moments.second)
    if isinstance(state, optimizers.NadamState):
        return optimizers.NadamState(t, float(moments.product[0]), moments.first,
                                     moments.second)
    if isinstance(state, optimizers.RMSpropState):
        return optimizers.RMSpropState(moments.first)
    return optimizers.MomentumState(moments.first)
