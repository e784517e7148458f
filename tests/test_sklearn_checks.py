"""scikit-learn's own estimator checks, for GDRegressor and GDClassifier.

The checked instances train full-batch (so that sample weights are exactly equivalent to
repeated rows) for a few epochs with a large learning rate, which keeps the ~50 checks
per estimator fast and still passes the checks' accuracy thresholds.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gdlab.estimators import GDClassifier, GDRegressor

FAST = {"batch_size": "full", "epochs": 30, "learning_rate": 0.1}

ESTIMATORS = [
    GDRegressor(**FAST),
    GDRegressor(loss="poisson", **{**FAST, "learning_rate": 0.02, "epochs": 60}),
    GDClassifier(**FAST),
    GDClassifier(hidden_layer_sizes=(5,), activation="tanh", **FAST),
]


def expected_failures(estimator):
    """No check is expected to fail."""
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
