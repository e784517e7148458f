"""The compiled executor (numba) computes what the reference executor (NumPy) computes.

Same data, same seed: θ, the optimizer state and the whole history agree to 1e-12
(relative) in float64 after several epochs, for every variant (full, 1, k), activation,
loss (fused and generic paths), optimizer and schedule, with sample weights and exposure.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

import gdlab as gd
from gdlab import kernels
from gdlab.optim import schedules
from gdlab.train.callbacks import Callback, DivergenceWarning

RTOL = 1e-12


def _data(n, p, k, kind, rng):
    X = rng.normal(size=(n, p))
    z = X @ rng.normal(size=(p, k)) * 0.5
    if kind == "binary":
        return X, (z[:, 0] + rng.logistic(size=n) > 0).astype(float)
    if kind == "classes":
        return X, np.argmax(z + rng.gumbel(size=(n, k)), axis=1)
    if kind == "onehot":
        return X, np.eye(k)[np.argmax(z + rng.gumbel(size=(n, k)), axis=1)]
    if kind == "counts":
        return X, rng.poisson(np.exp(z[:, 0] * 0.3)).astype(float)
    if kind == "positive":
        return X, rng.gamma(2.0, np.exp(z[:, 0] * 0.3))
    if kind == "tweedie":
        y = rng.poisson(1.0, size=n) * rng.gamma(2.0, 1.0, size=n)
        return X, y
    return X, z[:, 0] + rng.normal(size=n)


# (id, hidden activation or None, output activation, units, loss, target kind, optimizer,
#  weights, exposure)
CASES = [
    ("linear-mse-sgd", None, "linear", 1, "mse", "real", gd.SGD(0.05), False, False),
    ("tanh-mse-momentum-weights", "tanh", "linear", 1, "mse", "real",
     gd.SGD(0.01, momentum=0.9), True, False),
    ("relu-bce-adam", "relu", "sigmoid", 1, "binary_crossentropy", "binary", gd.Adam(0.01),
     False, False),
    ("sigmoid-bce-nesterov-weights", "sigmoid", "sigmoid", 1, "binary_crossentropy", "binary",
     gd.SGD(0.1, momentum=0.8, nesterov=True), True, False),
    ("exp-sparse-cce-rmsprop", "exponential", "softmax", 3,
     "sparse_categorical_crossentropy", "classes", gd.RMSprop(0.01), False, False),
    ("softmax-cce-sgd", "softmax", "softmax", 3, "categorical_crossentropy", "onehot",
     gd.SGD(0.1), False, False),
    ("poisson-exposure-adam", "tanh", "exponential", 1, "poisson", "counts", gd.Adam(0.01),
     True, True),
    ("gamma-exposure-sgd", None, "exponential", 1, "gamma", "positive", gd.SGD(0.02), False,
     True),
    ("tweedie-weights-rmsprop", "relu", "exponential", 1, "tweedie", "tweedie",
     gd.RMSprop(0.01), True, True),
    # generic paths: dL/dy_hat, then the output activation's backward
    ("generic-mse-sigmoid", "tanh", "sigmoid", 1, "mse", "binary", gd.SGD(0.1), False, False),
    ("generic-mse-exposure", None, "tanh", 2, "mse", "real2", gd.Adam(0.01), False, True),
    ("generic-cce-sigmoid", "relu", "sigmoid", 3, "categorical_crossentropy", "onehot",
     gd.SGD(0.05), False, False),
    ("generic-bce-tanh-hidden-softmax-out", "tanh", "softmax", 2, "binary_crossentropy",
     "binary2", gd.SGD(0.05), False, False),
    ("generic-poisson-sigmoid", None, "sigmoid", 1, "poisson", "counts", gd.SGD(0.05), True,
     True),
    ("generic-gamma-exp-hidden", "exponential", "linear", 1, "gamma", "positive_shift",
     gd.SGD(0.001), False, False),
]


def _case_data(kind, units, rng):
    if kind == "real2":
        X, y = _data(40, 3, 2, "real", rng)
        return X, np.column_stack([y, -y])
    if kind == "binary2":
        X, y = _data(40, 3, 1, "binary", rng)
        return X, np.column_stack([y, 1 - y])
    if kind == "positive_shift":
        X, y = _data(40, 3, 1, "positive", rng)
        return X, y + 5.0
    return _data(40, 3, units, kind, rng)


def _build(hidden, output, units, loss, optimizer, seed=3):
    layers = [gd.Dense(4, activation=hidden)] if hidden else []
    layers.append(gd.Dense(units, activation=output,
                           bias_initializer="ones" if loss == "gamma" and not hidden else "zeros"))
    model = gd.Sequential(layers, input_dim=3, seed=seed)
    model.compile(loss=gd.losses.get(loss, power=1.4) if loss == "tweedie" else loss,
                  optimizer=gd.optimizers.get(optimizer.get_config()))
    return model


def _fit_both(build, X, y, **fit_kwargs):
    models, histories = [], []
    for executor in ("numpy", "compiled"):
        model = build()
        histories.append(model.fit(X, y, verbose=0, executor=executor, **fit_kwargs))
        models.append(model)
    return models, histories


def _assert_agree(models, histories):
    reference, compiled = models
    scale = np.max(np.abs(reference.theta))
    np.testing.assert_allclose(compiled.theta, reference.theta, rtol=RTOL, atol=RTOL * scale)
    assert compiled.step_count == reference.step_count
    for a, b in zip(reference._opt_state, compiled._opt_state, strict=True):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=RTOL * (np.max(np.abs(a)) + 1e-300))
    h_ref, h_cmp = histories
    assert h_cmp.history.keys() == h_ref.history.keys()
    for key, values in h_ref.history.items():
        np.testing.assert_allclose(h_cmp.history[key], values, rtol=RTOL, err_msg=key)
    for name in ("step_loss", "step_learning_rate"):
        ref, cmp = getattr(h_ref, name), getattr(h_cmp, name)
        assert len(cmp) == len(ref)
        for a, b in zip(ref, cmp, strict=True):  # a deviance near 0 cancels: scale atol
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=RTOL * np.max(np.abs(a)),
                                       err_msg=name)


def _case_fit(case, batch_size):
    """A case's data and fit arguments: 4 epochs, seed 5, its weights and exposure."""
    _, _, _, units, _, kind, _, weights, exposure = case
    rng = np.random.default_rng(11)
    X, y = _case_data(kind, units, rng)
    kwargs = {"batch_size": batch_size, "epochs": 4, "seed": 5}
    if weights:
        kwargs["sample_weight"] = rng.uniform(0.2, 2.0, size=len(X))
    if exposure:
        kwargs["exposure"] = rng.uniform(0.3, 1.5, size=len(X))
    return X, y, kwargs


@pytest.mark.parametrize("batch_size", ["full", 1, 7])
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_executors_agree(case, batch_size):
    _, hidden, output, units, loss, _, optimizer, _, _ = case
    X, y, kwargs = _case_fit(case, batch_size)
    models, histories = _fit_both(lambda: _build(hidden, output, units, loss, optimizer),
                                  X, y, **kwargs)
    _assert_agree(models, histories)


SCHEDULES = [
    schedules.StepDecay(0.2, every=3, factor=0.7),
    schedules.ExponentialDecay(0.2, decay_steps=4, decay_rate=0.6),
    schedules.ExponentialDecay(0.2, decay_steps=4, decay_rate=0.6, staircase=True),
    schedules.InverseTimeDecay(0.2, decay_steps=2, decay_rate=0.5),
    schedules.InverseTimeDecay(0.2, decay_steps=2, decay_rate=0.5, staircase=True),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_schedules_agree(schedule):
    X, y = _data(30, 3, 1, "binary", np.random.default_rng(2))
    optimizer = gd.SGD(schedule, momentum=0.5)
    models, histories = _fit_both(
        lambda: _build("tanh", "sigmoid", 1, "binary_crossentropy", optimizer), X, y,
        batch_size=4, epochs=3, seed=1, validation_split=0.2)
    _assert_agree(models, histories)
    assert histories[1].history["learning_rate"][-1] < schedule(0)


def test_epoch_callbacks_and_metrics_see_the_same_logs():
    class Record(Callback):
        def __init__(self):
            super().__init__()
            self.logs = []

        def on_epoch_end(self, epoch, logs=None):
            self.logs.append(dict(logs))

    X, y = _data(50, 3, 1, "binary", np.random.default_rng(4))
    records = []
    for executor in ("numpy", "auto"):
        model = _build("relu", "sigmoid", 1, "binary_crossentropy", gd.Adam(0.01))
        model.compile(loss="binary_crossentropy", optimizer=gd.Adam(0.01),
                      metrics=["accuracy", "mse"])
        record = Record()
        model.fit(X, y, batch_size=8, epochs=3, seed=0, verbose=0, callbacks=[record],
                  validation_data=(X[:10], y[:10]), executor=executor)
        records.append(record.logs)
    assert [sorted(logs) for logs in records[0]] == [sorted(logs) for logs in records[1]]
    for a, b in zip(*records, strict=True):
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=RTOL), key


def test_auto_uses_compiled_code_unless_steps_are_needed(monkeypatch):
    calls = []
    original = kernels.Executor.run_epoch

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    X, y = _data(20, 3, 1, "real", np.random.default_rng(0))
    model = _build(None, "linear", 1, "mse", gd.SGD(0.01))
    model.fit(X, y, epochs=1, verbose=0, executor="compiled")  # the kernels are now loaded
    monkeypatch.setattr(kernels.Executor, "run_epoch", counting)
    model.fit(X, y, epochs=2, verbose=0)
    assert len(calls) == 2
    assert model.history.params["executor"] == "compiled"
    assert "compiled in this process" in model.history.params["executor_reason"]
    model.fit(X, y, epochs=2, verbose=0, trace=True)
    assert len(calls) == 2 and len(model.history.trace) == 2
    assert model.history.params["executor"] == "numpy"
    assert model.history.params["executor_reason"] == (
        "auto: tracing or a per-step callback needs it")

    class PerStep(Callback):
        per_step = True

    model.fit(X, y, epochs=2, verbose=0, callbacks=[PerStep()])
    assert len(calls) == 2
    with pytest.raises(ValueError, match="executor='compiled' cannot run this fit"):
        model.fit(X, y, epochs=1, verbose=0, trace=True, executor="compiled")
    with pytest.raises(ValueError, match="executor must be"):
        model.fit(X, y, epochs=1, verbose=0, executor="fast")


def test_divergence_is_reported_identically():
    X, y = _data(30, 3, 1, "real", np.random.default_rng(1))
    X = X * 100.0
    diverged = []
    for executor in ("numpy", "compiled"):
        model = _build("tanh", "linear", 1, "mse", gd.SGD(10.0))
        with pytest.warns(DivergenceWarning, match="learning rate"):
            model.fit(X, y, batch_size=1, epochs=5, seed=0, verbose=0, executor=executor)
        diverged.append((model.history.diverged, model.theta.copy(), model.step_count,
                         len(model.history.step_loss), model.history.history))
    (d_ref, t_ref, s_ref, n_ref, h_ref), (d_cmp, t_cmp, s_cmp, n_cmp, h_cmp) = diverged
    assert d_cmp["message"] == d_ref["message"]
    assert (d_cmp["epoch"], d_cmp["step"], s_cmp, n_cmp) == (d_ref["epoch"], d_ref["step"],
                                                             s_ref, n_ref)
    assert np.all(np.isfinite(t_cmp))
    np.testing.assert_allclose(t_cmp, t_ref, rtol=RTOL)
    assert h_cmp.keys() == h_ref.keys()


def test_full_batch_on_all_cores_is_deterministic_and_agrees():
    n = 3 * kernels.BLOCK_ROWS + 17  # several row blocks, split between the threads
    X, y = _data(n, 4, 1, "binary", np.random.default_rng(8))
    w = np.random.default_rng(9).uniform(0.5, 1.5, size=n)

    def build():
        model = gd.Sequential([gd.Dense(3, activation="tanh"), gd.Dense(1, "sigmoid")],
                              input_dim=4, seed=0)
        model.compile(loss="binary_crossentropy", optimizer=gd.Adam(0.05))
        return model

    models, histories = _fit_both(build, X, y, batch_size="full", epochs=3, sample_weight=w)
    _assert_agree(models, histories)
    again = build()
    again.fit(X, y, batch_size="full", epochs=3, sample_weight=w, verbose=0,
              executor="compiled")
    assert np.array_equal(again.theta, models[1].theta)  # bit for bit


class Swish(gd.activations.Activation):
    """An activation the kernels do not know."""

    name = "swish"

    def forward(self, Z):
        return Z / (1.0 + np.exp(-Z))

    def derivative(self, Z):
        s = 1.0 / (1.0 + np.exp(-Z))
        return s + Z * s * (1.0 - s)


def test_unsupported_models_fall_back_or_refuse():
    X, y = _data(20, 3, 1, "real", np.random.default_rng(0))
    model = gd.Sequential([gd.Dense(1)], input_dim=3)
    model.compile(loss="mse", optimizer=gd.SGD(0.01))
    model.layers[0].activation = Swish()
    history = model.fit(X, y, epochs=1, verbose=0)  # auto: the reference executor
    assert history.params["executor"] == "numpy"
    assert history.params["executor_reason"] == "auto: activation Swish() has no compiled kernel"
    with pytest.raises(ValueError, match="Swish"):
        model.fit(X, y, epochs=1, verbose=0, executor="compiled")


F32_CASES = [case for case in CASES if case[0] in (
    "linear-mse-sgd", "relu-bce-adam", "exp-sparse-cce-rmsprop", "poisson-exposure-adam",
    "generic-mse-sigmoid", "sigmoid-bce-nesterov-weights")]


@pytest.mark.parametrize("batch_size", ["full", 1, 7, 20])
@pytest.mark.parametrize("case", F32_CASES, ids=[case[0] for case in F32_CASES])
def test_float32_models_run_compiled_and_agree_to_1e5(case, batch_size):
    """θ and the optimizer state stay float32 (rounded at every step, as the reference
    executor's); the compiled blocks run in float32, its losses, row path and gradient
    sums in float64: agreement to 1e-5."""
    _, hidden, output, units, loss, _, optimizer, _, _ = case
    X, y, kwargs = _case_fit(case, batch_size)

    def build():
        model = _build(hidden, output, units, loss, optimizer)
        return gd.Sequential(model.layers, input_dim=3, seed=3, dtype="float32")

    models = []
    for executor in ("numpy", "compiled"):
        model = build()
        model.compile(loss=loss, optimizer=gd.optimizers.get(optimizer.get_config()))
        history = model.fit(X, y, verbose=0, executor=executor, **kwargs)
        models.append(model)
    reference, compiled = models
    assert history.params["executor"] == "compiled" and compiled.theta.dtype == np.float32
    scale = np.max(np.abs(reference.theta))
    np.testing.assert_allclose(compiled.theta, reference.theta, rtol=1e-5, atol=1e-5 * scale)
    for a, b in zip(reference.optimizer_state, compiled.optimizer_state, strict=True):
        assert np.asarray(b).dtype == np.asarray(a).dtype
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * (np.max(np.abs(a)) + 1e-30))


@pytest.mark.parametrize("batch_size", [1, 2, 20, "full"])
def test_rows_that_weigh_nothing_agree(batch_size):
    """Batches whose rows all weigh 0 contribute loss 0 and gradient 0 in both executors."""
    rng = np.random.default_rng(6)
    X, y = _data(40, 3, 1, "binary", rng)
    w = np.where(np.arange(40) % 4 < 2, 0.0, rng.uniform(0.5, 1.5, size=40))
    models, histories = _fit_both(
        lambda: _build("tanh", "sigmoid", 1, "binary_crossentropy", gd.SGD(0.1)), X, y,
        batch_size=batch_size, epochs=2, seed=0, sample_weight=w, shuffle=False)
    _assert_agree(models, histories)


def test_kernel_codes_come_from_the_registries():
    from gdlab.kernels import codes

    assert sorted(codes.ACTIVATION_CODES) == gd.activations.names()
    assert set(codes.LOSS_CODES) == set(gd.losses.names())
    for table in (codes.ACTIVATION_CODES, codes.RULE_CODES, codes.SCHEDULE_CODES):
        assert sorted(table.values()) == list(range(len(table)))  # one code per name
    assert codes.LOSS_CODES["sparse_categorical_crossentropy"] == codes.CATEGORICAL_CROSSENTROPY
    assert codes.SCHEDULE_CODES["step"] == codes.STEP_DECAY


def test_a_part_without_kernel_runs_on_the_reference_executor():
    model = _build(None, "linear", 1, "mse", gd.SGD(0.01))
    model.layers[0].activation = Swish()
    assert kernels.unsupported(model) == "activation Swish() has no compiled kernel"


def test_the_pool_is_made_once_and_sized_by_the_usable_cpus(monkeypatch):
    import threading
    import time

    from gdlab.kernels import executor

    monkeypatch.setattr(executor.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert executor._threads() == 1
    made = []

    class SlowPool:  # a wide window between "no pool yet" and "pool stored"
        def __init__(self, max_workers, thread_name_prefix):
            time.sleep(0.05)
            made.append(max_workers)

    monkeypatch.setattr(executor, "ThreadPoolExecutor", SlowPool)
    monkeypatch.setattr(executor, "_POOL", [])
    pools = []
    threads = [threading.Thread(target=lambda: pools.append(executor._pool()))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1] and len({id(pool) for pool in pools}) == 1


def test_auto_runs_a_small_fit_at_once_when_the_kernels_would_compile(monkeypatch):
    from gdlab.kernels import cache, choice

    monkeypatch.setattr(choice, "_in_process", lambda kernel, dtype: False)
    monkeypatch.setattr(cache, "cached", lambda kernel: False)
    X, y = _data(1000, 3, 1, "binary", np.random.default_rng(0))
    model = _build(None, "sigmoid", 1, "binary_crossentropy", gd.SGD(0.1))
    history = model.fit(X, y, batch_size=32, epochs=5, verbose=0)
    assert history.params["executor"] == "numpy"
    assert "run_epoch_glm to compile" in history.params["executor_reason"]
    model.fit(X, y, batch_size=32, epochs=1, verbose=0, executor="numpy")
    assert model.history.params["executor_reason"] == "executor='numpy' was asked"


def test_the_cost_model_compiles_big_jobs_only():
    from gdlab.kernels.choice import COMPILE, LOAD, estimate

    def cost(epochs, start, batch_size=32, n=1_000_000, n_params=21, layers=1):
        return estimate(n=n, n_params=n_params, layers=layers, batch_size=batch_size,
                        epochs=epochs, start=start, glm=layers == 1)

    cold = COMPILE["run_epoch_glm"]
    assert cost(3, cold).reference < cost(3, cold).compiled  # 1e6 rows, 3 epochs: numpy
    assert cost(3, LOAD).compiled < cost(3, LOAD).reference  # cached: worth loading
    assert cost(20, cold).compiled < cost(20, cold).reference  # long enough to compile
    small = cost(5, LOAD, n=1000)
    assert small.reference < small.compiled  # a small fit never waits for numba
    # kernels loaded: an MLP's batches of 256 rows run compiled, but not for a tiny fit
    assert cost(1, 0.0, batch_size=256, n_params=1217, layers=3).compiled < cost(
        1, 0.0, batch_size=256, n_params=1217, layers=3).reference
    tiny = cost(1, LOAD, batch_size=256, n_params=1217, layers=3, n=2000)
    assert tiny.reference < tiny.compiled


def test_the_cache_check_finds_what_numba_wrote(monkeypatch, tmp_path):
    from gdlab.kernels import cache

    X, y = _data(40, 3, 1, "real", np.random.default_rng(0))
    model = _build(None, "linear", 1, "mse", gd.SGD(0.01))
    model.fit(X, y, batch_size=1, epochs=1, verbose=0, executor="compiled")
    assert cache.cached("run_epoch_glm")  # the index numba wrote, found without numba
    monkeypatch.setattr(cache, "cache_dir", lambda: tmp_path)
    assert not cache.cached("run_epoch_glm")


def test_a_read_only_install_without_home_caches_in_the_temp_folder(monkeypatch):
    import numba

    from gdlab.kernels import cache

    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    assert cache.fallback_dir() is None  # here: the source folder is writable
    monkeypatch.setattr(cache, "_writable", lambda folder: False)
    folder = cache.fallback_dir()
    assert folder is not None and folder.parent == Path(tempfile.gettempdir())
    assert folder.stat().st_mode & 0o077 == 0 and folder.stat().st_uid == os.getuid()


def test_the_temp_cache_folder_is_never_one_another_user_could_write(tmp_path, monkeypatch):
    """A folder planted in the shared temporary directory (writable by others, or a link)
    is not used: numba's cache index is a pickle, so that would run someone else's code."""
    from gdlab.kernels import cache

    planted = tmp_path / "gdlab-numba-cache-planted"
    planted.mkdir()
    planted.chmod(0o777)
    chosen = cache._private_dir(planted)
    assert chosen != planted and chosen.stat().st_mode & 0o077 == 0
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "gdlab-numba-cache-link"
    link.symlink_to(target)
    assert cache._private_dir(link) != link
    own = tmp_path / "gdlab-numba-cache-own"
    assert cache._private_dir(own) == own and own.stat().st_mode & 0o077 == 0


def test_the_kernels_cache_goes_stale_with_their_codes_and_sources():
    """numba checks only a function's own file: a cached kernel would keep old codes
    (a new optimizer in the registry shifts them) or an old inlined callee."""
    from gdlab.kernels import codes, epoch, rows, stamp

    for kernel in (epoch.run_epoch_glm, epoch.block_gradients, rows.activate):
        assert kernel._cache._impl.locator.get_source_stamp() == stamp.STAMP
    shifted = {**codes.RULE_CODES, "nadam2": len(codes.RULE_CODES)}
    tables = (codes.ACTIVATION_CODES, codes.LOSS_CODES, shifted, codes.SCHEDULE_CODES)
    assert stamp.kernel_stamp(tables) != stamp.STAMP


def test_the_stamp_covers_every_module_with_compiled_code():
    """A compiled module missing from the stamp would leave stale inlined code cached."""
    from gdlab.kernels import cache

    folder = Path(cache.__file__).parent
    compiled = {path.name for path in folder.glob("*.py")
                if "@njit" in (text := path.read_text(encoding="utf-8")) or "@overload" in text}
    assert compiled <= set(cache.COMPILED), compiled - set(cache.COMPILED)


def test_warm_compiles_every_entry_point(capsys):
    from gdlab.kernels import choice, epoch, warm

    warm.main(["--dtype", "float64"])
    assert len(capsys.readouterr().out.splitlines()) == 5  # one line per entry point
    for kernel in epoch.ENTRY_POINTS:
        assert choice._in_process(kernel, "float64"), kernel


def _threaded_fit(_=None):
    """A full batch of more than BLOCK_ROWS rows: the compiled executor's thread pool."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 4))
    y = rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)
    model = gd.Sequential([gd.Dense(3, "tanh"), gd.Dense(1, "exponential")], input_dim=4,
                          seed=0)
    model.compile(loss="poisson", optimizer=gd.Adam(0.01))
    model.fit(X, y, batch_size="full", epochs=3, verbose=0, executor="compiled")
    return model.theta.copy()


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="fork is POSIX")
def test_a_process_forked_after_a_compiled_fit_can_fit_too():
    """The child inherits the pool object but not its threads: it must make its own
    (it used to wait forever on the parent's)."""
    import multiprocessing

    parent = _threaded_fit()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_threaded_fit).get(timeout=120)
    np.testing.assert_array_equal(child, parent)

