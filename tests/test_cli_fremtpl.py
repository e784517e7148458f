"""``gdlab fit`` on the French motor data reaches the Poisson GLM's deviance.

All 678,013 policies, the claim count ClaimNb with exposure Exposure, and (to keep the
test affordable) a documented subset of the features: VehPower, VehAge, DrivAge,
BonusMalus, Density (standardised), Area and VehGas (one-hot): 13 columns. Full-batch
Adam (η = 0.05, 50 epochs) from the null model must close the gap between the null and
the GLM deviance to within 1 %. The GLM is fitted here by Newton's method (IRLS) on the
same design, with one dummy per categorical dropped and an intercept: the same column
space, so the same deviance. The fit uses the reference executor so that the test's time
does not depend on numba's compile cache (the compiled one gives the same θ to ~1e-12).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gdlab.cli import main
from gdlab.train.saving import load_saved

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "freMTPL2freq.csv.gz"
FEATURES = "VehPower,VehAge,DrivAge,BonusMalus,Density,Area,VehGas"


def poisson_deviance(y, mu):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * (np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))


def glm_deviance(X, y, e, names):
    """Mean deviance of the Poisson GLM with log link and offset log(e), by Newton."""
    drop = {"Area=A", "VehGas=Diesel"}  # one level per categorical: full rank
    D = np.column_stack([np.ones(len(y))] + [X[:, j] for j, n in enumerate(names)
                                             if n not in drop])
    beta = np.zeros(D.shape[1])
    beta[0] = np.log(y.sum() / e.sum())
    for _ in range(30):
        mu = e * np.exp(D @ beta)
        step = np.linalg.solve((D * mu[:, None]).T @ D, D.T @ (y - mu))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    else:
        pytest.fail("Newton's method did not converge")
    return poisson_deviance(y, e * np.exp(D @ beta)).mean()


@pytest.mark.skipif(not DATA.exists(), reason="the shared insurance data is not present")
def test_full_batch_adam_reaches_the_poisson_glm(tmp_path):
    out = tmp_path / "run"
    code = main(["fit", str(DATA), "--target", "ClaimNb", "--exposure", "Exposure",
                 "--model", "poisson", "--features", FEATURES, "--batch-size", "full",
                 "--optimizer", "adam", "--learning-rate", "0.05", "--epochs", "50",
                 "--validation-split", "0", "--executor", "numpy", "--out", str(out),
                 "--quiet"])
    assert code == 0
    saved = load_saved(out)
    frame = pd.read_csv(DATA)
    assert len(frame) == 678_013
    X = saved.preprocessing.transform(frame)
    y, e = frame["ClaimNb"].to_numpy(float), frame["Exposure"].to_numpy(float)
    null = poisson_deviance(y, e * y.sum() / e.sum()).mean()
    glm = glm_deviance(X, y, e, saved.preprocessing.feature_names)
    ours = poisson_deviance(y, saved.model.predict(X, exposure=e)[:, 0]).mean()
    gap = (ours - glm) / (null - glm)
    assert null - glm > 0.005  # the features matter: a real gap to close
    assert -1e-9 < gap < 0.01, (null, glm, ours, gap)
    metrics = pd.read_json(out / "metrics.json", typ="series")
    assert metrics["train_mean_deviance"] == pytest.approx(ours, rel=1e-12)
    assert metrics["train_null_mean_deviance"] == pytest.approx(null, rel=1e-12)
