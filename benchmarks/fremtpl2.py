r"""The claim-frequency table of Schelldorfer & Wüthrich (2019) on freMTPL2freq, with gdlab.

``python -m benchmarks.fremtpl2 --data PATH [--test-rows FILE] [--seeds K] --out DIR
[--doc docs/fremtpl2.md]`` applies the study's protocol (*Nesting Classical Actuarial
Models into Neural Networks*, SSRN 3320525): ClaimNb capped at 4, Exposure capped at 1,
a 90/10 learning/test split (the given test rows, or a seeded split whose row file,
``DIR/test_rows.txt``, is saved: 0-based row positions, one per line), mean Poisson
deviance ×100 in and out of sample, and the average frequency
:math:`\sum_i \hat\mu_i / \sum_i e_i` on the test rows. It fits

* ``homogeneous``: one frequency, :math:`\hat\lambda = \sum N / \sum e`;
* ``glm``: the study's Poisson GLM (its feature engineering below), by full-batch
  gradient descent, checked against statsmodels' IRLS fit on the same split;
* ``nn_one_hot``: tanh (20, 15, 10), exponential output, VehBrand and Region one-hot;
* ``nn_embedding``: the same with 2-dimensional embeddings of VehBrand and Region;
* ``cann``: the GLM frozen as an offset plus the embedding network, starting at the GLM.

Networks use Nadam, batches of 10,000, and start at the homogeneous model (output layer
W = 0, b = log λ̂); the seeds change their initial weights and batch order. Results go
to ``DIR/results.json`` (per model: ``train_deviance_x100``, ``test_deviance_x100``,
``average_frequency`` with mean, std and per-seed values, ``parameters``, ``seconds``)
and ``DIR/table.md``; ``--doc`` writes the documentation page with the paper's table.
"""

from __future__ import annotations

import argparse
import json
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


@dataclass
class Settings:
    """The training choices (the study's, except the number of epochs: see the docs)."""

    hidden: tuple[int, ...] = (20, 15, 10)
    batch_size: int = 10_000
    epochs: int = 25
    learning_rate: float = 0.005
    cann_epochs: int = 15
    cann_learning_rate: float = 0.002
    glm_steps: int = 300
    glm_learning_rate: float = 0.05
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
    glm.fit(X, y, exposure=e, batch_size="full", epochs=settings.glm_steps, verbose=0)
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


def network(inputs: gd.Inputs | None, p: int, settings: Settings, seed: int) -> gd.Sequential:
    """tanh layers (20, 15, 10) and one exponential output unit."""
    layers = [gd.Dense(units, "tanh") for units in settings.hidden]
    return gd.Sequential([*layers, gd.Dense(1, "exponential")], seed=seed,
                         input_dim=None if inputs is not None else p, inputs=inputs)


def _counts(model: gd.Sequential):
    """μ = e · ŷ of ``model`` as a function of (X, e)."""
    return lambda X, e: model.predict(X, exposure=e)[:, 0]


def _metrics(predict, data, observed_e) -> dict[str, float]:
    (X_tr, y_tr, e_tr), (X_te, y_te, e_te) = data
    mu_tr, mu_te = predict(X_tr, e_tr), predict(X_te, e_te)
    return {"train_deviance_x100": deviance_x100(y_tr, mu_tr),
            "test_deviance_x100": deviance_x100(y_te, mu_te),
            "average_frequency": float(mu_te.sum() / observed_e)}


def run_seed(frame: pd.DataFrame, test: np.ndarray, settings: Settings, seed: int,
             *, glm_state: dict | None = None) -> dict[str, dict]:
    """Every model of the table for one seed; the GLM (deterministic) is fitted once."""
    train = np.setdiff1d(np.arange(len(frame)), test)
    y, e = frame["ClaimNb"].to_numpy(float), frame["Exposure"].to_numpy(float)
    out: dict[str, dict] = {}
    start = time.perf_counter()
    rate = y[train].sum() / e[train].sum()
    out["homogeneous"] = _metrics(lambda X, ex: rate * ex,
                                  ((None, y[train], e[train]), (None, y[test], e[test])),
                                  e[test].sum())
    out["homogeneous"].update(parameters=1, seconds=time.perf_counter() - start)
    G = glm_design(frame)
    if glm_state is None or "model" not in glm_state:
        start = time.perf_counter()
        glm = fit_glm(G[train], y[train], e[train], settings)
        seconds = time.perf_counter() - start
        check = statsmodels_check(G[train], y[train], e[train], glm)
        if glm_state is not None:
            glm_state.update(model=glm, seconds=seconds, check=check)
    else:
        glm, seconds, check = glm_state["model"], glm_state["seconds"], glm_state["check"]
    glm_data = ((G[train], y[train], e[train]), (G[test], y[test], e[test]))
    out["glm"] = _metrics(_counts(glm), glm_data, e[test].sum())
    out["glm"].update(parameters=glm.n_params, seconds=seconds, statsmodels=check)
    out["glm"].update(_balanced(glm, glm_data, e[test].sum()))
    for name, embeddings in (("nn_one_hot", False), ("nn_embedding", True)):
        X, inputs = network_design(frame, embeddings=embeddings)
        data = ((X[train], y[train], e[train]), (X[test], y[test], e[test]))
        start = time.perf_counter()
        model = network(inputs, X.shape[1], settings, seed)
        _start_at(model, float(np.log(rate)))
        model.compile(loss="poisson", optimizer=gd.Nadam(settings.learning_rate))
        model.fit(X[train], y[train], exposure=e[train], batch_size=settings.batch_size,
                  epochs=settings.epochs, seed=seed, verbose=0)
        out[name] = _metrics(_counts(model), data, e[test].sum())
        out[name].update(parameters=model.n_params, seconds=time.perf_counter() - start)
        out[name].update(_balanced(model, data, e[test].sum()))
    out["cann"] = _fit_cann(frame, G, glm, train, test, settings, seed)
    return out


def _balanced(model: gd.Sequential, data, observed_e: float) -> dict[str, float]:
    """Average frequency and test deviance after ``metrics.correct_balance`` on the
    training rows (θ is put back afterwards)."""
    (X_tr, y_tr, e_tr), (X_te, y_te, e_te) = data
    snapshot = model.snapshot()
    gd.metrics.correct_balance(model, X_tr, y_tr, exposure=e_tr)
    mu = model.predict(X_te, exposure=e_te)[:, 0]
    model.restore(snapshot)
    return {"balanced_average_frequency": float(mu.sum() / observed_e),
            "balanced_test_deviance_x100": deviance_x100(y_te, mu)}


def _fit_cann(frame, G, glm, train, test, settings: Settings, seed: int) -> dict:
    y, e = frame["ClaimNb"].to_numpy(float), frame["Exposure"].to_numpy(float)
    X, inputs = network_design(frame, embeddings=True)
    start = time.perf_counter()
    model = gd.cann(glm, network(inputs, X.shape[1], settings, seed))
    model.compile(loss="poisson", optimizer=gd.Nadam(settings.cann_learning_rate))
    model.fit(X[train], y[train], glm_X=G[train], exposure=e[train],
              batch_size=settings.batch_size, epochs=settings.cann_epochs, seed=seed, verbose=0)
    seconds = time.perf_counter() - start

    def predict(rows):
        return model.predict(X[rows], glm_X=G[rows], exposure=e[rows])[:, 0]

    mu_tr, mu_te = predict(train), predict(test)
    result = {"train_deviance_x100": deviance_x100(y[train], mu_tr),
              "test_deviance_x100": deviance_x100(y[test], mu_te),
              "average_frequency": float(mu_te.sum() / e[test].sum()),
              "parameters": model.network.n_params + glm.n_params, "seconds": seconds}
    folded = model.offset_exposure(X[train], glm_X=G[train], exposure=e[train])
    gd.metrics.correct_balance(model.network, X[train], y[train], exposure=folded)
    mu = predict(test)
    result.update(balanced_average_frequency=float(mu.sum() / e[test].sum()),
                  balanced_test_deviance_x100=deviance_x100(y[test], mu))
    return result


# --- the run ------------------------------------------------------------------------------
def summarise(per_seed: list[dict[str, dict]]) -> dict[str, dict]:
    """Mean, standard deviation (ddof 1; 0 for one seed) and values over the seeds."""
    models: dict[str, dict] = {}
    for name in MODELS:
        runs = [result[name] for result in per_seed]
        entry: dict = {"parameters": runs[0]["parameters"]}
        for key in runs[0]:
            if key in ("parameters", "statsmodels"):
                continue
            values = [float(r[key]) for r in runs]
            entry[key] = {"mean": float(np.mean(values)),
                          "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                          "per_seed": values}
        if "statsmodels" in runs[0]:
            entry["statsmodels"] = runs[0]["statsmodels"]
        models[name] = entry
    return models


def run(data: str | Path, out: str | Path, *, test_rows: str | Path | None = None,
        seeds: int = 1, settings: Settings | None = None,
        doc: str | Path | None = None) -> dict:
    """The whole table: fit every model for each seed, write results.json and table.md."""
    settings = settings or Settings()
    begin = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = load(data)
    if test_rows is None:
        test = split_rows(len(frame), settings.split_seed)
        rows_file = out / "test_rows.txt"
        np.savetxt(rows_file, test, fmt="%d")
    else:
        test, rows_file = read_rows(test_rows, len(frame)), Path(test_rows)
    glm_state: dict = {}
    per_seed, seed_seconds = [], []
    for seed in range(seeds):
        start = time.perf_counter()
        per_seed.append(run_seed(frame, test, settings, seed, glm_state=glm_state))
        seed_seconds.append(time.perf_counter() - start)
    y, e = frame["ClaimNb"].to_numpy(float), frame["Exposure"].to_numpy(float)
    train = np.setdiff1d(np.arange(len(frame)), test)
    results = {
        "data": str(data), "rows": len(frame), "train_rows": int(train.size),
        "test_rows": int(test.size), "test_rows_file": str(rows_file), "seeds": seeds,
        "settings": asdict(settings),
        "observed_frequency": {"train": float(y[train].sum() / e[train].sum()),
                               "test": float(y[test].sum() / e[test].sum())},
        "models": summarise(per_seed),
        "seconds": {"total": time.perf_counter() - begin, "per_seed": seed_seconds},
    }
    results["targets"] = report.targets(results)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "table.md").write_text(report.table(results) + "\n", encoding="utf-8")
    if doc is not None:
        Path(doc).write_text(report.page(results), encoding="utf-8")
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fremtpl2",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="freMTPL2freq.csv.gz")
    parser.add_argument("--test-rows", help="text file of 0-based test row positions")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder for results.json and table.md")
    parser.add_argument("--doc", help="also write this documentation page")
    for name, value in asdict(Settings()).items():
        if name != "hidden":
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    settings = Settings(**{k: getattr(args, k) for k in asdict(Settings()) if k != "hidden"})
    results = run(args.data, args.out, test_rows=args.test_rows, seeds=args.seeds,
                  settings=settings, doc=args.doc)
    print(report.table(results))
    return results


if __name__ == "__main__":
    main()
