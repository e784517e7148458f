"""The actuaries' losses and metrics against statsmodels' GLMs, scikit-learn and by hand.

References: statsmodels GLM (Poisson with offset log exposure, Gamma and Tweedie with
the log link), scikit-learn's deviance metrics, the formulas of DESIGN.md, and the real
French motor portfolio freMTPL2freq (skipped when ../shared/data is absent).
"""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import (
    auc,
    d2_tweedie_score,
    mean_gamma_deviance,
    mean_poisson_deviance,
    mean_tweedie_deviance,
)
from threadpoolctl import threadpool_limits

import gdlab as gd
from gdlab import metrics
from gdlab.estimators import GDRegressor

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GLM_GD = {"hidden_layer_sizes": (), "batch_size": "full", "optimizer": "sgd"}


def portfolio(n=2000, seed=42):
    """Seeded synthetic policies: 3 features, exposure in (0.1, 1), counts and severities."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    exposure = rng.uniform(0.1, 1.0, n)
    counts = rng.poisson(exposure * np.exp(-1.0 + X @ [0.3, -0.2, 0.1]))
    severity = rng.gamma(2.0, np.exp(1.0 + X @ [0.3, -0.2, 0.1]) / 2.0)
    return X, exposure, counts, severity


def glm(y, X, family, **kwargs):
    return sm.GLM(y, sm.add_constant(X), family=family, **kwargs).fit(tol=1e-12)


# --- the losses: DESIGN.md's formulas, Keras's poisson, compile with a power -------------
def test_unit_deviances_match_the_design_formulas_row_by_row():
    y = np.array([0.0, 1.0, 3.0, 0.5])
    rate, e = np.array([0.2, 1.5, 2.0, 0.7]), np.array([1.0, 0.5, 2.0, 0.3])
    mu, p = e * rate, 1.3
    poisson = [2 * ((yi * np.log(yi / m) if yi > 0 else 0.0) - (yi - m))  # a plain loop
               for yi, m in zip(y, mu, strict=True)]
    tweedie = 2 * (y ** (2 - p) / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p)
                   + mu ** (2 - p) / (2 - p))
    gamma = 2 * ((y[1:] - mu[1:]) / mu[1:] - np.log(y[1:] / mu[1:]))
    col = rate[:, None]
    np.testing.assert_allclose(gd.losses.Poisson().value(y[:, None], col, exposure=e), poisson)
    np.testing.assert_allclose(gd.losses.Tweedie(power=p).value(y[:, None], col, exposure=e),
                               tweedie)
    np.testing.assert_allclose(gd.losses.Gamma().value(y[1:, None], col[1:], exposure=e[1:]),
                               gamma)
    # and scikit-learn's metrics (no exposure: mu = rate)
    assert metrics.mean_deviance(y, rate) == pytest.approx(mean_poisson_deviance(y, rate))
    assert metrics.mean_deviance(y[1:], rate[1:], loss="gamma") == pytest.approx(
        mean_gamma_deviance(y[1:], rate[1:]))
    assert metrics.mean_deviance(y, rate, loss="tweedie", power=p) == pytest.approx(
        mean_tweedie_deviance(y, rate, power=p))


def test_keras_poisson_is_half_the_deviance_less_a_constant():
    y, rate = np.array([0.0, 1.0, 4.0]), np.array([0.5, 2.0, 3.0])
    keras = rate - y * np.log(rate + 1e-7)  # keras.losses.poisson, per row
    half_deviance = gd.losses.Poisson().value(y[:, None], rate[:, None]) / 2
    constant = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0) - y
    np.testing.assert_allclose(keras, half_deviance - constant, atol=1e-6)
    keras_gradient = 1 - y / rate
    np.testing.assert_allclose(gd.losses.Poisson().gradient(y[:, None], rate[:, None])[:, 0],
                               2 * keras_gradient)


def test_tweedie_power_through_compile():
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=1)
    model.compile(loss="tweedie")
    assert model.loss.power == 1.5
    model.compile(loss=gd.losses.Tweedie(power=1.3))
    assert model.loss.get_config() == {"name": "tweedie", "power": 1.3}
    model.compile(loss=gd.losses.get("tweedie", power=1.7))
    assert model.loss.power == 1.7
    with pytest.raises(ValueError, match=r"power must be in \(1, 2\)"):
        gd.losses.get("tweedie", power=2.0)


@pytest.mark.parametrize("loss", ["poisson", "gamma", gd.losses.Tweedie(power=1.4)],
                         ids=["poisson", "gamma", "tweedie"])
def test_gradients_with_exposure_and_weights_pass_gradcheck(loss):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 3))
    y = rng.gamma(2.0, 0.5, 12)
    y[:3] = 0.0 if loss != "gamma" else y[:3]  # zeros for the count-type losses
    model = gd.Sequential([gd.Dense(4, activation="tanh"), gd.Dense(1, activation="exponential")],
                          input_dim=3, seed=1)
    model.compile(loss=loss)
    result = gd.gradcheck(model, X, y, sample_weight=rng.uniform(0.5, 2.0, 12),
                          exposure=rng.uniform(0.2, 1.0, 12))
    assert result.passed, result.worst()


# --- GLMs: statsmodels' coefficients from full-batch gradient descent -------------------
def test_poisson_with_exposure_reaches_the_statsmodels_glm():
    X, e, counts, _ = portfolio()
    reference = glm(counts, X, sm.families.Poisson(), offset=np.log(e))
    model = GDRegressor(loss="poisson", learning_rate=1.0, epochs=200, **GLM_GD)
    model.fit(X, counts, exposure=e)
    np.testing.assert_allclose(model.coef_, reference.params[1:], atol=1e-4)
    assert model.intercept_ == pytest.approx(reference.params[0], abs=1e-4)
    deviance = metrics.mean_deviance(counts, model.predict(X), exposure=e) * len(counts)
    assert deviance == pytest.approx(reference.deviance, rel=1e-9)
    assert model.balance_ratio_ == pytest.approx(1.0, abs=1e-9)  # canonical link


def test_poisson_counts_with_exposure_equal_frequencies_weighted_by_exposure():
    """scikit-learn's convention (y/e, sample_weight=e) gives the same Poisson fit."""
    X, e, counts, _ = portfolio(500)
    kwargs = {"loss": "poisson", "learning_rate": 1.0, "epochs": 50, **GLM_GD}
    with_exposure = GDRegressor(**kwargs).fit(X, counts, exposure=e)
    frequency = GDRegressor(**kwargs).fit(X, counts / e, sample_weight=e)
    np.testing.assert_allclose(frequency.model_.theta, with_exposure.model_.theta, atol=1e-12)


def test_gamma_reaches_the_statsmodels_gamma_glm_with_log_link():
    X, _, _, severity = portfolio()
    reference = glm(severity, X, sm.families.Gamma(link=sm.families.links.Log()))
    model = GDRegressor(loss="gamma", learning_rate=0.5, epochs=200, **GLM_GD).fit(X, severity)
    np.testing.assert_allclose(model.coef_, reference.params[1:], atol=1e-4)
    assert model.intercept_ == pytest.approx(reference.params[0], abs=1e-4)
    assert model.score(X, severity) == pytest.approx(
        d2_tweedie_score(severity, model.predict(X), power=2))


def test_tweedie_reaches_the_statsmodels_tweedie_glm():
    X, e, counts, severity = portfolio(1000)
    y = counts * severity[:1000]  # compound Poisson-Gamma: pure premiums with zeros
    family = sm.families.Tweedie(var_power=1.5, link=sm.families.links.Log())
    reference = glm(y, X, family)
    model = GDRegressor(loss="tweedie", power=1.5, learning_rate=0.3, epochs=300, **GLM_GD)
    model.fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.params[1:], atol=1e-4)


# --- metrics ---------------------------------------------------------------------------
def test_gini_matches_the_lorenz_curve_of_scikit_learns_example():
    rng = np.random.default_rng(0)
    e = rng.uniform(0.1, 1.0, 300)
    rate = rng.gamma(2.0, 0.1, 300)
    counts = rng.poisson(e * rate)
    # scikit-learn's "Poisson regression and non-normal loss" example, with frequencies
    order = np.argsort(rate)
    claims = np.cumsum(counts[order]) / counts.sum()
    exposure = np.cumsum(e[order]) / e.sum()
    expected = 1 - 2 * auc(np.r_[0, exposure], np.r_[0, claims])
    assert metrics.gini_index(counts, rate, exposure=e) == pytest.approx(expected)
    assert metrics.gini_index(counts, counts / e, exposure=e) > expected  # the oracle ranks best
    x, L = metrics.lorenz_curve(counts, rate, exposure=e)
    assert x[0] == L[0] == 0 and x[-1] == L[-1] == 1 and np.all(L <= x + 1e-12)


def test_mean_deviance_per_row_and_per_exposure():
    y, rate, e, w = (np.array([0.0, 2.0, 1.0]), np.array([0.5, 1.0, 2.0]),
                     np.array([1.0, 2.0, 0.5]), np.array([1.0, 2.0, 1.0]))
    per_row = gd.losses.Poisson().value(y[:, None], rate[:, None], exposure=e)
    total = w @ per_row
    assert metrics.mean_deviance(y, rate, exposure=e, sample_weight=w) == pytest.approx(
        total / w.sum())
    assert metrics.mean_deviance(y, rate, exposure=e, sample_weight=w,
                                 per="exposure") == pytest.approx(total / (w @ e))
    assert metrics.d2_score(y, rate) == pytest.approx(d2_tweedie_score(y, rate, power=1))


def test_correct_balance_on_an_early_stopped_network():
    X, e, counts, _ = portfolio(1000)
    model = GDRegressor(hidden_layer_sizes=(8,), activation="tanh", loss="poisson",
                        learning_rate=0.3, epochs=3, batch_size="full", random_state=0)
    model.fit(X, counts, exposure=e)
    assert abs(model.balance_ratio_ - 1.0) > 1e-3  # three epochs: not at the optimum
    gini = metrics.gini_index(counts, model.predict(X), exposure=e)
    model.correct_balance(X, counts, exposure=e)
    assert model.balance_ratio_ == pytest.approx(1.0, abs=1e-12)
    assert np.sum(model.predict(X, exposure=e)) == pytest.approx(counts.sum(), rel=1e-12)
    assert metrics.gini_index(counts, model.predict(X), exposure=e) == pytest.approx(gini)


def test_correct_balance_on_a_sequential():
    X, e, _, severity = portfolio(300)
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=3, seed=0)
    model.compile(loss="gamma", optimizer=gd.Adam(learning_rate=0.1))
    model.fit(X, severity, epochs=5, batch_size="full", verbose=0, executor="numpy")
    delta = metrics.correct_balance(model, X, severity)
    assert delta != 0.0
    assert metrics.balance_ratio(severity, model.predict(X)) == pytest.approx(1.0, abs=1e-12)
    binary = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=3)
    with pytest.raises(ValueError, match="'exponential'"):
        metrics.correct_balance(binary, X, severity > 1)


# --- the real portfolio ----------------------------------------------------------------
def fremtpl2_design(frame):
    """The usual GLM design, capped as in the literature, one-hot and standardised.

    Returns one matrix whose first column is the intercept's 1 (statsmodels' design; the
    network gets the view without it), filled in place: one 230 MB allocation, not three.
    """
    numeric = pd.DataFrame({
        "VehPower": frame.VehPower, "VehAge": frame.VehAge.clip(upper=20),
        "DrivAge": frame.DrivAge.clip(upper=90), "BonusMalus": frame.BonusMalus.clip(upper=150),
        "LogDensity": np.log(frame.Density),
    })
    categorical = ["Area", "VehBrand", "VehGas", "Region"]
    widths = [len(frame[column].cat.categories) - 1 for column in categorical]  # drop first
    design = np.ones((len(frame), 1 + numeric.shape[1] + sum(widths)))
    design[:, 1:6] = (numeric - numeric.mean()) / numeric.std(ddof=0)
    start = 6
    for column, width in zip(categorical, widths, strict=True):
        codes = frame[column].cat.codes.to_numpy()
        design[:, start:start + width] = codes[:, None] == np.arange(1, width + 1)
        start += width
    return design


@pytest.mark.skipif(not (DATA / "freMTPL2freq.csv.gz").exists(), reason="no shared data")
def test_poisson_on_fremtpl2_closes_the_null_to_glm_gap():
    start = time.perf_counter()
    categories = dict.fromkeys(["Area", "VehBrand", "VehGas", "Region"], "category")
    frame = pd.read_csv(DATA / "freMTPL2freq.csv.gz", dtype=categories)
    Xc = fremtpl2_design(frame)
    X = Xc[:, 1:]
    counts = frame.ClaimNb.clip(upper=4).to_numpy(float)
    e = frame.Exposure.clip(upper=1.0).to_numpy(float)
    loaded = time.perf_counter()
    with threadpool_limits(limits=1):  # one core; the machine is shared
        null = np.zeros(Xc.shape[1])
        null[0] = np.log(counts.sum() / e.sum())
        reference = sm.GLM(counts, Xc, family=sm.families.Poisson(), offset=np.log(e)).fit(
            method="newton", start_params=null)
        fitted_glm = time.perf_counter()
        model = GDRegressor(loss="poisson", optimizer="adam", learning_rate=0.05, epochs=40,
                            batch_size="full").fit(X, counts, exposure=e)
    done = time.perf_counter()
    deviance = metrics.mean_deviance(counts, model.predict(X), exposure=e) * len(counts)
    gap = reference.null_deviance - reference.deviance
    print(f"freMTPL2 {X.shape}: load+design {loaded - start:.1f}s, statsmodels "
          f"{fitted_glm - loaded:.1f}s, gdlab 40 epochs {done - fitted_glm:.1f}s; "
          f"null {reference.null_deviance:.1f}, GLM {reference.deviance:.1f}, "
          f"gdlab {deviance:.1f} ({(deviance - reference.deviance) / gap:.2%} of the gap)")
    assert reference.mle_retvals["converged"]
    assert deviance - reference.deviance <= 0.01 * gap
    assert model.balance_ratio_ == pytest.approx(1.0, abs=1e-3)
