"""GDRegressor and GDClassifier in scikit-learn's tools, with weights, exposure and bad input."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import PoissonRegressor
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import gdlab as gd
from gdlab.estimators import GDClassifier, GDRegressor

FULL = {"batch_size": "full", "random_state": 0}


def policies(n=600, seed=0):
    """A small motor portfolio: categories, numbers, exposure, claim counts and a label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "area": rng.choice(["A", "B", "C"], n),
        "fuel": rng.choice(["Diesel", "Regular"], n),
        "age": rng.integers(18, 90, n).astype(float),
        "power": rng.integers(4, 15, n).astype(float),
    })
    exposure = rng.uniform(0.2, 1.0, n)
    log_rate = (-2.0 + 0.5 * (frame.area == "C") - 0.02 * (frame.age - 50)
                + 0.1 * (frame.power - 9))
    counts = rng.poisson(exposure * np.exp(log_rate.to_numpy()))
    label = np.where(log_rate + rng.normal(0, 0.3, n) > -2.0, "risky", "safe")
    return frame, exposure, counts, label


def design():
    return ColumnTransformer([
        ("onehot", OneHotEncoder(drop="first"), ["area", "fuel"]),
        ("scale", StandardScaler(), ["age", "power"]),
    ])


def test_breast_cancer_cross_validated_accuracy_at_least_95_percent():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), GDClassifier(epochs=30, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=5)
    assert scores.mean() >= 0.95, scores


def test_multinomial_with_string_labels_and_a_hidden_layer():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = GDClassifier(hidden_layer_sizes=(8,), activation="tanh", learning_rate=0.05,
                         epochs=200, **FULL)
    model.fit(StandardScaler().fit_transform(X), names)
    proba = model.predict_proba(StandardScaler().fit_transform(X))
    assert model.classes_.tolist() == names[[0, 50, 100]].tolist()
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.score(StandardScaler().fit_transform(X), names) > 0.95
    assert model.model_.layers[-1].activation.name == "softmax"
    with pytest.raises(AttributeError, match="hidden_layer_sizes=()"):
        _ = model.coef_


def test_pipeline_with_column_transformer_both_estimators():
    frame, exposure, counts, label = policies()
    clf = make_pipeline(design(), GDClassifier(learning_rate=0.1, epochs=100, **FULL))
    clf.fit(frame, label)
    assert clf.score(frame, label) > 0.8
    assert clf.feature_names_in_.tolist() == ["area", "fuel", "age", "power"]
    reg = make_pipeline(design(), GDRegressor(loss="poisson", optimizer="sgd", learning_rate=1.0,
                                              epochs=300, **FULL))
    reg.fit(frame, counts, gdregressor__exposure=exposure)
    rate = reg.predict(frame)
    assert np.allclose(reg.predict(frame, exposure=exposure), exposure * rate)
    assert reg[-1].balance_ratio_ == pytest.approx(1.0, abs=1e-3)
    # the fit is scikit-learn's Poisson GLM (the maximum likelihood: area C's effect 0.456,
    # simulated 0.5): 300 full-batch steps come within 0.005 of every coefficient
    glm = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(
        design().fit_transform(frame), counts / exposure, sample_weight=exposure)
    np.testing.assert_allclose(reg[-1].coef_, glm.coef_, atol=0.01)
    assert reg[-1].intercept_ == pytest.approx(glm.intercept_, abs=0.01)
    assert glm.coef_[1] == pytest.approx(0.456, abs=1e-3)


def test_dataframe_in_keeps_feature_names():
    X = pd.DataFrame({"x1": np.linspace(-1, 1, 50), "x2": np.linspace(1, 0, 50)})
    model = GDRegressor(epochs=5, **FULL).fit(X, 2 * X.x1)
    assert model.feature_names_in_.tolist() == ["x1", "x2"]
    assert model.n_features_in_ == 2


def test_grid_search_over_both_estimators():
    frame, exposure, counts, label = policies(300)
    grid = GridSearchCV(make_pipeline(design(), GDClassifier(epochs=50, **FULL)),
                        {"gdclassifier__learning_rate": [0.001, 0.1]}, cv=3)
    grid.fit(frame, label)
    assert grid.best_params_ == {"gdclassifier__learning_rate": 0.1}
    X = StandardScaler().fit_transform(frame[["age", "power"]])
    y = X @ [1.0, -2.0] + np.random.default_rng(0).normal(0, 0.1, len(X))
    grid = GridSearchCV(GDRegressor(activation="tanh", epochs=50, **FULL),
                        {"hidden_layer_sizes": [(), (4,)], "learning_rate": [0.0001, 0.1]},
                        cv=3).fit(X, y)
    assert grid.best_params_["learning_rate"] == 0.1
    assert grid.best_score_ > 0.95


def test_partial_fit_is_one_epoch_and_continues_the_optimizer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    once = GDClassifier(epochs=3, **FULL).fit(X, y)
    steps = GDClassifier(**FULL)
    for _ in range(3):
        steps.partial_fit(X, y, classes=[0, 1])
    assert steps.n_iter_ == 3 and len(steps.loss_curve_) == 3
    np.testing.assert_allclose(steps.model_.theta, once.model_.theta, rtol=1e-12)
    with pytest.raises(ValueError, match="classes="):
        GDClassifier().partial_fit(X, y)


def test_early_stopping_keeps_the_best_epoch():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = GDClassifier(hidden_layer_sizes=(32,), learning_rate=0.05, epochs=300,
                         early_stopping=True, patience=5, batch_size=32, random_state=0)
    model.fit(X, y)
    assert model.n_iter_ < 300
    best = int(np.argmin(model.validation_loss_curve_))
    assert model.n_iter_ == best + 1 + 5
    # θ is the best epoch's: its loss on the held-out rows (the same seeded, stratified
    # split) is the lowest of the curve, not the last
    _, val = train_test_split(np.arange(len(y)), test_size=0.1, random_state=0, stratify=y)
    held_out = model.model_.evaluate(X[val], y[val])
    assert held_out == pytest.approx(model.validation_loss_curve_[best], rel=1e-12)
    assert held_out < model.validation_loss_curve_[-1]


def test_sample_weights_scale_free_and_equal_to_repeated_rows():
    frame, exposure, counts, _ = policies(200)
    X = design().fit_transform(frame)
    w = np.random.default_rng(1).integers(0, 4, len(X))
    kwargs = {"loss": "poisson", "optimizer": "adam", "learning_rate": 0.05, "epochs": 20,
              "hidden_layer_sizes": (3,), **FULL}
    base = GDRegressor(**kwargs).fit(X, counts, sample_weight=w, exposure=exposure)
    triple = GDRegressor(**kwargs).fit(X, counts, sample_weight=3 * w, exposure=exposure)
    rows = np.repeat(np.arange(len(X)), w)
    repeated = GDRegressor(**kwargs).fit(X[rows], counts[rows], exposure=exposure[rows])
    np.testing.assert_allclose(triple.model_.theta, base.model_.theta, rtol=1e-10)
    np.testing.assert_allclose(repeated.model_.theta, base.model_.theta, rtol=1e-9)


@pytest.mark.parametrize(("loss", "y", "fit_kwargs", "message"), [
    ("poisson", [0.0, -1.0, 2.0], {}, "poisson needs targets with y >= 0"),
    ("gamma", [1.0, 0.0, 2.0], {}, "gamma needs targets with y > 0"),
    ("tweedie", [1.0, -2.0, 2.0], {}, "tweedie needs targets with y >= 0"),
    ("poisson", [0.0, 1.0, 2.0], {"exposure": [1.0, 0.0, 1.0]}, "exposure must be > 0"),
    ("poisson", [0.0, 1.0, 2.0], {"exposure": [1.0, 1.0]}, "exposure has 2 values"),
], ids=["poisson-negative", "gamma-zero", "tweedie-negative", "exposure-zero",
        "exposure-length"])
def test_bad_targets_and_exposure_raise_clear_errors(loss, y, fit_kwargs, message):
    X = np.array([[0.0], [1.0], [2.0]])
    with pytest.raises(ValueError, match=message):
        GDRegressor(loss=loss, epochs=1).fit(X, y, **fit_kwargs)


@pytest.mark.parametrize("power", [1.0, 2.0, 2.5, 0.5])
def test_tweedie_power_outside_the_open_interval_is_refused(power):
    with pytest.raises(ValueError, match=r"power must be in \(1, 2\)"):
        GDRegressor(loss="tweedie", power=power, epochs=1).fit([[0.0], [1.0]], [1.0, 2.0])


def test_bad_parameters_are_reported_at_fit():
    X, y = [[0.0], [1.0]], [0.0, 1.0]
    with pytest.raises(ValueError, match="Unknown optimizer 'adagrad'"):
        GDRegressor(optimizer="adagrad").fit(X, y)
    with pytest.raises(ValueError, match="Unknown loss 'huber'"):
        GDRegressor(loss="huber").fit(X, y)
    with pytest.raises(ValueError, match="batch_size must be 'full'"):
        GDRegressor(batch_size="all").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes; y has 1 class"):
        GDClassifier().fit(X, ["a", "a"])


def test_exposure_for_the_classifier_is_not_a_parameter():
    with pytest.raises(TypeError):
        GDClassifier().fit([[0.0], [1.0]], [0, 1], exposure=[1.0, 1.0])


def test_pickled_estimator_keeps_training():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = GDClassifier(epochs=2, **FULL).fit(X, y)
    copy = pickle.loads(pickle.dumps(model))
    model.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_allclose(copy.model_.theta, model.model_.theta, rtol=1e-12)
    np.testing.assert_allclose(copy.predict_proba(X), model.predict_proba(X), rtol=1e-12)


def test_optimizer_instance_and_schedule():
    X = np.linspace(-1, 1, 40)[:, None]
    schedule = gd.ExponentialDecay(0.1, decay_rate=0.5, decay_steps=10)
    model = GDRegressor(optimizer=gd.SGD(learning_rate=schedule), epochs=20, **FULL)
    model.fit(X, 3 * X[:, 0])
    rates = model.history_.history["learning_rate"]
    assert rates[0] == pytest.approx(0.1) and rates[10] == pytest.approx(0.05)


@pytest.mark.parametrize(("estimator", "fraction", "rows"), [
    (GDRegressor, 0.0, 20),  # no validation rows at all
    (GDClassifier, 0.1, 6),  # one held-out row cannot hold both classes (stratified)
])
def test_early_stopping_without_a_usable_validation_split_names_validation_fraction(
        estimator, fraction, rows):
    X = np.linspace(-1.0, 1.0, rows)[:, None]
    y = (X[:, 0] > 0).astype(int)
    model = estimator(early_stopping=True, validation_fraction=fraction, epochs=2)
    with pytest.raises(ValueError, match=r"validation_fraction=.*early_stopping") as error:
        model.fit(X, y)
    assert "test_size" not in str(error.value)


# --- the executor (issue 12 item 6): a parameter, "auto" by default, same results ----------
def _executor_cases():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:200]
    y = y[:200]
    frame, exposure, counts, _ = policies(300)
    Xp = design().fit_transform(frame)
    weight = np.random.default_rng(1).uniform(0.5, 2.0, 300)
    iris_X, iris_y = load_iris(return_X_y=True)
    return {
        "mlp regressor, early stopping": (
            dict(hidden_layer_sizes=(8,), activation="tanh", batch_size=16, epochs=12,
                 early_stopping=True, patience=3), GDRegressor, X, X[:, 0] - X[:, 1], {}),
        "poisson glm, exposure and weights, full batch": (
            dict(loss="poisson", optimizer="sgd", learning_rate=0.5, batch_size="full",
                 epochs=30), GDRegressor, Xp, counts,
            {"exposure": exposure, "sample_weight": weight}),
        "logistic, momentum, stochastic": (
            dict(optimizer="momentum", learning_rate=0.01, batch_size=1, epochs=3),
            GDClassifier, X, y, {}),
        "multinomial mlp, adam": (
            dict(hidden_layer_sizes=(6,), activation="tanh", learning_rate=0.02, batch_size=10,
                 epochs=10),
            GDClassifier, iris_X, iris_y, {}),
    }


@pytest.mark.parametrize("case", list(_executor_cases()))
def test_estimators_agree_between_executors(case):
    params, estimator, X, y, fit_args = _executor_cases()[case]
    fitted = {executor: estimator(random_state=0, executor=executor, **params).fit(X, y,
                                                                                  **fit_args)
              for executor in ("numpy", "compiled")}
    reference, compiled = fitted["numpy"], fitted["compiled"]
    assert compiled.history_.params["executor"] == "compiled"
    assert reference.history_.params["executor"] == "numpy"
    scale = np.abs(reference.model_.theta).max()
    np.testing.assert_allclose(compiled.model_.theta, reference.model_.theta, rtol=1e-12,
                               atol=1e-12 * scale)
    np.testing.assert_allclose(compiled.loss_curve_, reference.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(compiled.validation_loss_curve_,
                               reference.validation_loss_curve_, rtol=1e-12)
    assert compiled.n_iter_ == reference.n_iter_
    for a, b in zip(reference.model_.optimizer_state, compiled.model_.optimizer_state,
                    strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * (np.max(np.abs(a)) + 1e-300))
    predict = "predict_proba" if estimator is GDClassifier else "predict"
    np.testing.assert_allclose(getattr(compiled, predict)(X), getattr(reference, predict)(X),
                               rtol=1e-12)


def test_the_executor_is_a_parameter_auto_by_default():
    assert GDRegressor().get_params()["executor"] == "auto"
    assert GDClassifier().get_params()["executor"] == "auto"
    model = GDRegressor(epochs=2, **FULL).fit([[0.0], [1.0], [2.0]], [1.0, 2.0, 3.0])
    assert model.history_.params["executor_reason"].startswith("auto")
    with pytest.raises(gd.UserError, match="executor"):
        GDClassifier(executor="gpu").fit([[0.0], [1.0]], [0, 1])
