r"""``gdlab fit ... --offset-model RUN``: a saved run's predictions as a log offset (CANN).

The new model predicts :math:`\mu = e \cdot \mu^{\text{RUN}}(x) \cdot \exp(z(x))`: the
saved run (typically a GLM, ``--model poisson`` without ``--hidden``) is frozen, and its
rate is folded into the exposure the loss takes, :math:`e' = e \cdot \mu^{\text{RUN}}`
(see :mod:`gdlab.train.cann`). The new model's output layer starts at zero, so training
starts exactly at the saved run's predictions. The run folder records the offset run, and
``gdlab predict`` / ``gdlab evaluate`` apply it again: ``predict``'s ``rate`` is
:math:`\mu^{\text{RUN}} \exp(z)` and its ``prediction`` :math:`e` times that.

The metrics keep the true exposure e apart from the offset (``Dataset.exposure`` and
``Dataset.offset_rate``): the deviance per exposure is Σ deviance / Σ e and the null model
the constant rate Σy/Σe, as for a plain GLM on the same rows, so the deviance explained of
a CANN and of its GLM compare.

The offset run must be a saved ``gdlab fit`` run of the same log-link kind (poisson,
gamma, tweedie) and target, and the data must hold its feature columns; anything else is
a one-line error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gdlab.cli.presets import LOG_LINK
from gdlab.cli.runs import CommandError
from gdlab.io.preprocessing import require_columns
from gdlab.train.cann import check_log_link_output

__all__ = ["offset_rates", "start_at_offset"]


def offset_rates(run: str | Path, frame: pd.DataFrame, *, kind: str, target: str) -> np.ndarray:
    """The saved run's rate :math:`\\mu^{\\text{RUN}}(x_i)` for every row of ``frame``."""
    from gdlab.train.saving import load_saved

    if kind not in LOG_LINK:
        raise CommandError(f"--offset-model needs a log-link model (--model "
                           f"{'|'.join(LOG_LINK)}), where the offset multiplies the rate; "
                           f"not --model {kind}.")
    saved = load_saved(run)
    meta = saved.metadata
    if saved.preprocessing is None or "kind" not in meta:
        raise CommandError(f"--offset-model {run} was not saved by `gdlab fit`; give a run "
                           "folder of `gdlab fit --model poisson`.")
    if meta["kind"] != kind:
        raise CommandError(f"--offset-model {run} is a {meta['kind']} model; this fit is "
                           f"--model {kind}: the offset must be of the same kind.")
    if meta.get("target") != target:
        raise CommandError(f"--offset-model {run} predicts {meta.get('target')!r}, not "
                           f"--target {target!r}.")
    if meta.get("offset_model"):
        raise CommandError(f"--offset-model {run} has an offset model itself; nest the "
                           "GLM's run, not a CANN's.")
    check_log_link_output(saved.model, f"--offset-model {run}")
    require_columns(frame, saved.preprocessing.features, role=f"--offset-model {run}'s feature")
    rate = saved.model.predict(saved.preprocessing.transform(frame))[:, 0]
    if not np.all(np.isfinite(rate) & (rate > 0)):
        raise CommandError(f"--offset-model {run} predicts a rate that is not finite and > 0 "
                           "on some rows; the offset log μ must be finite.")
    return rate


def start_at_offset(model: Any) -> None:
    """Output layer W = 0, b = 0: exp(z) = 1, the fit starts at the offset run's rates."""
    theta = model.theta.copy()
    theta[model.layer_slices()[-1]] = 0.0
    model.set_theta(theta)
