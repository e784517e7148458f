r"""The claim-frequency table of Schelldorfer & Wüthrich (2019) on freMTPL2freq, with gdlab.

``python -m benchmarks.fremtpl2 --data PATH [--test-rows FILE] [--seeds K] --out DIR
[--doc docs/fremtpl2.md]`` applies the study's protocol (*Nesting Classical Actuarial
Models into Neural Networks*, SSRN 3320525): ClaimNb capped at 4, Exposure capped at 1,
a 90/10 learning/test split (the given test rows, or a seeded split whose row file,
``DIR/test_rows.txt``, is saved: 0-based row positions, one per line), mean Poisson
deviance ×100 in and out of sample, and the average frequency
:math:`\sum_i \hat\mu_i / \sum_i e_i` on the test rows. It fits

* ``homogeneous``: one frequency, :math:`\hat\lambda = \sum N / \sum e`;
* ``glm``: the study's Poisson GLM (features below), by full-batch gradient descent,
  checked against statsmodels' IRLS fit on the same split;
* ``nn_one_hot``: tanh (20, 15, 10), exponential output, VehBrand and Region one-hot;
* ``nn_embedding``: the same with 2-dimensional embeddings of VehBrand and Region;
* ``cann``: the GLM frozen as an offset plus the embedding network, starting at the GLM.

Networks use Nadam, batches of 10,000, and start at the homogeneous model (output layer
W = 0, b = log λ̂); the seeds change their initial weights and batch order. Every fit uses
``executor="auto"`` (``--executor`` overrides it) and records which executor ran; the fits
run one after another in this process (a compiled fit uses every core itself). Results go
to ``DIR/results.json`` (per model: ``train_deviance_x100``, ``test_deviance_x100``,
``average_frequency``, ``learning_balance`` = Σμ̂/ΣN on the learning rows, with mean, std
and per-seed values; ``parameters``, ``seconds``, ``executor``) and ``DIR/table.md``;
``--doc`` writes the documentation page. ``--validation`` holds out a seeded 10 % of the
learning rows instead of the test rows (unused): the runs that choose the schedule, shown
on the page by ``--validation-results``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import gdlab as gd
from benchmarks import fremtpl2_report as report

COLUMNS = ("ClaimNb", "Exposure", "Area", "VehPower", "VehAge", "DrivAge", "BonusMalus",
           "VehBrand", "VehGas", "Density", "Region")
MODELS = ("homogeneous", "glm", "nn_one_hot", "nn_embedding", "cann")
NETWORKS = report.NETWORKS  #: fitted in this order for each seed


@dataclass
class Settings:
    """The training choices (the study's, except the number of epochs: see the docs)."""

    hidden: tuple[int, ...] = (20, 15, 10)
    batch_size: int = 10_000
    epochs: int = 120
    learning_rate: float = 0.006  #: decays exponentially to ``final_fraction`` of it
    cann_epochs: int = 120
    cann_learning_rate: float = 0.005
    final_fraction: float = 0.005  #: η at the last step / η at the first (the balance: docs)
    glm_steps: int = 300
    glm_learning_rate: float = 0.05
    dtype: str = "float32"  #: the networks' (the GLM computes in float64)
    executor: str = "auto"  #: fit(executor=...): "auto" (gdlab's default), "numpy", "compiled"
    split_seed: int = 0


# --- data --------------------------------------------------------------------------------
def load(path: str | Path) -> pd.DataFrame:
    """Read freMTPL2freq and apply the caps: ClaimNb ≤ 4, Exposure ≤ 1."""
    frame = pd.read_csv(path)
    absent = [c for c in COLUMNS if c not in frame.columns]
    if absent:
        raise ValueError(f"{path} lacks the freMTPL2freq column(s) {absent}.")
    if (frame["Exposure"] <= 0).any():
        rows = np.flatnonzero(frame["Exposure"].to_numpy() <= 0)
        raise ValueError(f"Exposure must be > 0; {rows.size} row(s) are not (rows "
                         f"{rows[:5].tolist()}). Drop them first.")
    frame["ClaimNb"] = frame["ClaimNb"].clip(upper=4)
    frame["Exposure"] = frame["Exposure"].clip(upper=1.0)
    return frame


def split_rows(n: int, seed: int) -> np.ndarray:
    """A seeded 10 % test sample of the rows (sorted 0-based positions)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(round(0.1 * n)), replace=False))


def read_rows(path: str | Path, n: int) -> np.ndarray:
    """Test rows from a text file (one 0-based position per line), checked."""
    try:
        rows = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except ValueError as error:
        raise ValueError(f"{path} must hold one integer row position per line: {error}") \
            from None
    if rows.size == 0 or rows.min() < 0 or rows.max() >= n or np.unique(rows).size != rows.size:
        raise ValueError(f"{path} must hold distinct row positions in [0, {n}); got "
                         f"{rows.size} values in [{rows.min(initial=0)}, {rows.max(initial=0)}].")
    if rows.size >= n:
        raise ValueError(f"{path} leaves no training rows.")
    return np.sort(rows)


def _codes(series: pd.Series) -> np.ndarray:
    """Integer codes of a categorical column (levels sorted as text)."""
    return pd.Categorical(series.astype(str)).codes.astype(np.int64)


def _dummies(codes: np.ndarray) -> np.ndarray:
    """0/1 columns for levels 1 … L−1 (level 0 is the reference, as R's treatment coding)."""
    return np.eye(int(codes.max()) + 1)[codes][:, 1:]


def glm_design(frame: pd.DataFrame) -> np.ndarray:
    """The study's GLM features (after Noll, Salzmann & Wüthrich 2018).

    Area as a code 1…6; VehPower as a factor capped at 9; VehAge in [0,1), [1,10],
    (10,∞); DrivAge in [18,21), [21,26), [26,31), [31,41), [41,51), [51,71), [71,∞);
    BonusMalus capped at 150; log Density; VehBrand, VehGas, Region as factors. The
    numeric columns are standardised (the GLM's fit does not change; descent is faster).
    """
    area = frame["Area"].astype(str).map({k: i for i, k in enumerate("ABCDEF", 1)})
    numeric = np.column_stack([area, frame["BonusMalus"].clip(upper=150),
                               np.log(frame["Density"])]).astype(float)
    numeric = (numeric - numeric.mean(axis=0)) / numeric.std(axis=0)
    veh_age = np.digitize(frame["VehAge"], [1, 11])
    driv_age = np.digitize(frame["DrivAge"], [21, 26, 31, 41, 51, 71])
    factors = [frame["VehPower"].clip(upper=9).to_numpy() - frame["VehPower"].min(), veh_age,
               driv_age, _codes(frame["VehBrand"]), _codes(frame["VehGas"]),
               _codes(frame["Region"])]
    return np.column_stack([numeric, *(_dummies(np.asarray(f)) for f in factors)])


def _min_max(values: pd.Series | np.ndarray) -> np.ndarray:
    """Scale to [−1, 1] with the table's minimum and maximum."""
    x = np.asarray(values, dtype=float)
    return 2.0 * (x - x.min()) / (x.max() - x.min()) - 1.0


def network_design(frame: pd.DataFrame, *, embeddings: bool) -> tuple[np.ndarray, gd.Inputs | None]:
    """The study's network features: seven numeric columns in [−1, 1], then VehBrand and
    Region one-hot (``embeddings=False``) or as codes for 2-dimensional embeddings."""
    area = frame["Area"].astype(str).map({k: i for i, k in enumerate("ABCDEF", 1)})
    numeric = np.column_stack([
        _min_max(area), _min_max(frame["VehPower"]), _min_max(frame["VehAge"].clip(upper=20)),
        _min_max(frame["DrivAge"].clip(upper=90)), _min_max(frame["BonusMalus"].clip(upper=150)),
        _min_max(np.log(frame["Density"])), _min_max(_codes(frame["VehGas"]))])
    brand, region = _codes(frame["VehBrand"]), _codes(frame["Region"])
    if not embeddings:
        one_hot = [np.eye(int(c.max()) + 1)[c] for c in (brand, region)]
        return np.column_stack([numeric, *one_hot]), None
    inputs = gd.Inputs(numeric=numeric.shape[1], categorical=[
        gd.Embedding(int(brand.max()) + 1, 2, name="VehBrand"),
        gd.Embedding(int(region.max()) + 1, 2, name="Region")])
    return np.column_stack([numeric, brand, region]).astype(float), inputs


# --- fitting -----------------------------------------------------------------------------
def deviance_x100(y: np.ndarray, mu: np.ndarray) -> float:
    """100 × the mean Poisson unit deviance."""
    return 100.0 * gd.metrics.mean_deviance(y, mu, loss="poisson")


def _start_at(model: gd.Sequential, bias: float) -> None:
    """Output layer W = 0 and b = ``bias``: every prediction is exp(bias) at the start."""
    theta = model.theta.copy()
    output = model.layer_slices()[-1]
    theta[output] = 0.0
    theta[output.stop - 1] = bias
    model.set_theta(theta)


def fit_glm(X: np.ndarray, y: np.ndarray, e: np.ndarray, settings: Settings) -> gd.Sequential:
    """The Poisson GLM by full-batch gradient descent (Nadam, η decaying), from log λ̂."""
    glm = gd.Sequential([gd.Dense(1, "exponential")], input_dim=X.shape[1], seed=0)
    _start_at(glm, float(np.log(y.sum() / e.sum())))
    schedule = gd.ExponentialDecay(settings.glm_learning_rate, decay_steps=settings.glm_steps,
                                   decay_rate=0.05)
    glm.compile(loss="poisson", optimizer=gd.Nadam(schedule))
    glm.fit(X, y, exposure=e, batch_size="full", epochs=settings.glm_steps, verbose=0,
            executor=settings.executor)
    return glm


def statsmodels_check(X_train: np.ndarray, y: np.ndarray, e: np.ndarray,
                      glm: gd.Sequential) -> dict[str, float]:
    """statsmodels' IRLS fit of the same GLM; the gap in train deviance ×100."""
    import statsmodels.api as sm

    design = sm.add_constant(X_train, has_constant="add")
    fitted = sm.GLM(y, design, family=sm.families.Poisson(), exposure=e).fit()
    ours = deviance_x100(y, glm.predict(X_train, exposure=e)[:, 0])
    theirs = 100.0 * fitted.deviance / y.size
    return {"statsmodels_train_deviance_x100": theirs, "gdlab_train_deviance_x100": ours,
            "difference_x100": ours - theirs}


@dataclass
class Study:
    """One run's data, prepared once: rows, designs, the GLM."""

    frame: pd.DataFrame
    train: np.ndarray
    test: np.ndarray
    y: np.ndarray
    e: np.ndarray
    G: np.ndarray  #: the GLM's design
    settings: Settings
    glm: gd.Sequential | None = None


def _evaluate(predict, study: Study) -> dict[str, float]:
    r"""Deviances ×100 in and out of sample, the test rows' average frequency and the
    balance on the learning rows, :math:`\sum_i \hat\mu_i / \sum_i N_i`;
    ``predict(rows)`` gives μ = e · ŷ for those rows."""
    y, train, test = study.y, study.train, study.test
    mu_train, mu_test = predict(train), predict(test)
    return {"train_deviance_x100": deviance_x100(y[train], mu_train),
            "test_deviance_x100": deviance_x100(y[test], mu_test),
            "average_frequency": float(mu_test.sum() / study.e[test].sum()),
            "learning_balance": float(mu_train.sum() / y[train].sum())}


def _balanced(model: gd.Sequential, X: np.ndarray, exposure: np.ndarray, study: Study) -> dict:
    """Average frequency and test deviance after ``metrics.correct_balance`` on the learning
    rows (θ is put back afterwards). ``exposure`` may hold a CANN's folded exposure."""
    train, test = study.train, study.test
    snapshot = model.snapshot()
    gd.metrics.correct_balance(model, X[train], study.y[train], exposure=exposure[train])
    mu = model.predict(X[test], exposure=exposure[test])[:, 0]
    model.restore(snapshot)
    return {"balanced_average_frequency": float(mu.sum() / study.e[test].sum()),
            "balanced_test_deviance_x100": deviance_x100(study.y[test], mu)}


def _executor(model: gd.Sequential) -> dict[str, str]:
    """Which executor ran the last fit of ``model`` and why (``history.params``)."""
    return {key: model.history.params[key] for key in ("executor", "executor_reason")}


def network(inputs: gd.Inputs | None, p: int, settings: Settings, seed: int) -> gd.Sequential:
    """tanh layers (20, 15, 10) and one exponential output unit."""
    layers = [gd.Dense(units, "tanh") for units in settings.hidden]
    return gd.Sequential([*layers, gd.Dense(1, "exponential")], seed=seed,
                         dtype=settings.dtype, input_dim=None if inputs is not None else p,
                         inputs=inputs)


def _nadam(settings: Settings, learning_rate: float, epochs: int, n_rows: int) -> gd.Nadam:
    steps = epochs * -(-n_rows // settings.batch_size)
    return gd.Nadam(gd.ExponentialDecay(learning_rate, decay_steps=steps,
                                        decay_rate=settings.final_fraction))


def fit_network(study: Study, name: str, seed: int) -> dict:
    """Fit and evaluate one network of the table (``nn_one_hot``, ``nn_embedding``,
    ``cann``) for one seed."""
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    s, y, e, train = study.settings, study.y, study.e, study.train
    X, inputs = network_design(study.frame, embeddings=name != "nn_one_hot")
    net = network(inputs, X.shape[1], s, seed)
    if name == "cann":
        model = gd.cann(study.glm, net)  # type: ignore[arg-type]
        epochs, rate = s.cann_epochs, s.cann_learning_rate
        exposure = model.offset_exposure(X, glm_X=study.G, exposure=e)  # e · μ_GLM
    else:
        model, epochs, rate, exposure = net, s.epochs, s.learning_rate, e
        _start_at(net, float(np.log(y[train].sum() / e[train].sum())))
    model.compile(loss="poisson", optimizer=_nadam(s, rate, epochs, train.size))
    with threadpool_limits(1):  # numpy executor, 10,000-row batches: one BLAS thread is faster
        net.fit(X[train], y[train], exposure=exposure[train], batch_size=s.batch_size,
                epochs=epochs, seed=seed, verbose=0, executor=s.executor)
    seconds = time.perf_counter() - start
    result = _evaluate(lambda rows: net.predict(X[rows], exposure=exposure[rows])[:, 0], study)
    result.update(_balanced(net, X, exposure, study))
    extra = study.glm.n_params if name == "cann" else 0  # type: ignore[union-attr]
    result.update(parameters=net.n_params + extra, seconds=seconds, **_executor(net))
    return result


def fit_glm_models(study: Study) -> dict[str, dict]:
    """The homogeneous model and the GLM (deterministic: once for all seeds)."""
    y, e, train, G = study.y, study.e, study.train, study.G
    start = time.perf_counter()
    rate = y[train].sum() / e[train].sum()
    out = {"homogeneous": _evaluate(lambda rows: rate * e[rows], study)}
    out["homogeneous"].update(parameters=1, seconds=time.perf_counter() - start,
                              executor="none", executor_reason="closed form: ΣN / Σe")
    start = time.perf_counter()
    study.glm = fit_glm(G[train], y[train], e[train], study.settings)
    seconds = time.perf_counter() - start
    check = statsmodels_check(G[train], y[train], e[train], study.glm)
    out["glm"] = _evaluate(lambda rows: study.glm.predict(G[rows], exposure=e[rows])[:, 0],
                           study)
    out["glm"].update(_balanced(study.glm, G, e, study))
    out["glm"].update(parameters=study.glm.n_params, seconds=seconds, statsmodels=check,
                      **_executor(study.glm))
    return out


def fit_all(study: Study, seeds: int) -> tuple[list[dict[str, dict]], list[tuple]]:
    """Every model for every seed, one fit after another in this process (a compiled fit
    runs on every core itself); and (wall, CPU) seconds at each seed's end."""
    fixed = fit_glm_models(study)
    per_seed, ends = [], []
    for seed in range(seeds):
        per_seed.append(dict(fixed) | {name: fit_network(study, name, seed)
                                       for name in NETWORKS})
        ends.append((time.perf_counter(), time.process_time()))
    return per_seed, ends


def split_spread(y: np.ndarray, e: np.ndarray, *, splits: int = 20) -> dict[str, float]:
    """How much the homogeneous model's test deviance ×100 moves between random 90/10
    splits (seeds 1000, 1001, …): the yardstick for comparing with another split."""
    values = []
    for seed in range(1000, 1000 + splits):
        test = split_rows(y.size, seed)
        train = np.ones(y.size, dtype=bool)
        train[test] = False
        rate = y[train].sum() / e[train].sum()
        values.append(deviance_x100(y[test], rate * e[test]))
    return {"splits": splits, "mean": float(np.mean(values)),
            "std": float(np.std(values, ddof=1)), "min": min(values), "max": max(values)}


# --- the run ------------------------------------------------------------------------------
def _rows(n: int, out: Path, test_rows: str | Path | None, settings: Settings,
          validation: bool) -> tuple[np.ndarray, np.ndarray, Path]:
    """Learning rows, held-out rows (the test rows, or 10 % of the learning rows), row file."""
    if test_rows is None:
        test, rows_file = split_rows(n, settings.split_seed), out / "test_rows.txt"
        np.savetxt(rows_file, test, fmt="%d")
    else:
        test, rows_file = read_rows(test_rows, n), Path(test_rows)
    train = np.setdiff1d(np.arange(n), test)
    if validation:
        held_out = train[split_rows(train.size, settings.split_seed + 1)]
        return np.setdiff1d(train, held_out), held_out, rows_file
    return train, test, rows_file


def _seconds(begin: tuple[float, float], ends: list[tuple[float, float]]) -> dict:
    """Wall and CPU seconds of the whole table for the first seed (data, GLM and its
    check, the three networks) and of each further seed; the load at the end."""
    wall, cpu = (np.array([begin[k], *(end[k] for end in ends)]) for k in (0, 1))
    further = {"further_seed": float(np.diff(wall[1:]).mean()),
               "cpu_further_seed": float(np.diff(cpu[1:]).mean())} if len(ends) > 1 else {}
    return {"first_seed": wall[1] - wall[0], "cpu_first_seed": cpu[1] - cpu[0], **further,
            "total": time.perf_counter() - begin[0], "cpu_total": time.process_time() - begin[1],
            "cpus": os.cpu_count(), "load_average_1min_at_end": os.getloadavg()[0]}


def run(data: str | Path, out: str | Path, *, test_rows: str | Path | None = None,
        seeds: int = 1, settings: Settings | None = None, doc: str | Path | None = None,
        validation: bool = False, validation_results: list[dict] | None = None) -> dict:
    """The whole table: fit every model for each seed, write results.json and table.md
    (and ``doc``, with a section on ``validation_results``: runs made with ``validation``)."""
    settings = settings or Settings()
    begin = time.perf_counter(), time.process_time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = load(data)
    train, test, rows_file = _rows(len(frame), out, test_rows, settings, validation)
    y, e = frame["ClaimNb"].to_numpy(float), frame["Exposure"].to_numpy(float)
    study = Study(frame, train, test, y, e, glm_design(frame), settings)
    per_seed, ends = fit_all(study, seeds)
    results = {
        "data": str(data), "rows": len(frame), "train_rows": int(train.size),
        "test_rows": int(test.size), "test_rows_file": str(rows_file), "seeds": seeds,
        "held_out": "validation: 10 % of the learning rows" if validation else "test",
        "settings": asdict(settings),
        "observed_frequency": {"train": float(y[train].sum() / e[train].sum()),
                               "test": float(y[test].sum() / e[test].sum())},
        "models": report.summarise(per_seed, MODELS),
        "seconds": _seconds(begin, ends),
        "homogeneous_test_deviance_x100_over_splits": split_spread(y, e),
    }
    results["targets"] = report.targets(results)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "table.md").write_text(report.table(results) + "\n", encoding="utf-8")
    if doc is not None:
        Path(doc).write_text(report.page(results, validation=validation_results),
                             encoding="utf-8")
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fremtpl2",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="freMTPL2freq.csv.gz")
    parser.add_argument("--test-rows", help="text file of 0-based test row positions")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder for results.json and table.md")
    parser.add_argument("--doc", help="also write this documentation page")
    parser.add_argument("--validation", action="store_true",
                        help="hold out 10 %% of the learning rows instead of the test rows")
    parser.add_argument("--validation-results", nargs="*", default=[],
                        help="results.json of --validation runs, for the page's section on "
                             "how the epochs were chosen")
    names = [name for name in asdict(Settings()) if name != "hidden"]
    for name in names:
        default = getattr(Settings(), name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = parser.parse_args(argv)
    settings = Settings(**{name: getattr(args, name) for name in names})
    chosen = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.validation_results]
    results = run(args.data, args.out, test_rows=args.test_rows, seeds=args.seeds,
                  settings=settings, doc=args.doc, validation=args.validation,
                  validation_results=chosen)
    print(report.table(results))
    return results


if __name__ == "__main__":
    main()
