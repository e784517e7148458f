"""The ``gdlab`` command: demo, lecture, fit, predict, evaluate, lr-sweep, explore.

Every user error (bad input, a missing file) is one line on stderr and exit status 2,
with no traceback (set the environment variable ``GDLAB_DEBUG=1`` to see it); a bug in
gdlab keeps its traceback and exits with status 1. Nothing is written when a command
fails, and an existing output is replaced only with ``--force``. The flags are in
:mod:`gdlab.cli.parser`, the fit and the sweep in :mod:`gdlab.cli.fitting`, the run
folders in :mod:`gdlab.cli.runs`. See ``docs/cli.md`` for the commands and examples.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gdlab._checks import UserError
from gdlab.cli.parser import build_parser
from gdlab.cli.runs import CommandError, OutputFile, RunFolder

if TYPE_CHECKING:
    from gdlab.train.saving import SavedModel

__all__ = ["main"]


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, flush=True)


# --- commands -----------------------------------------------------------------------------
def _cmd_fit(args: argparse.Namespace) -> None:
    from gdlab.cli.fitting import load_dataset, model_for, run_fit
    from gdlab.cli.outofcore import run_streamed_fit, wants_streaming

    folder = RunFolder(args.out, force=args.force)
    if wants_streaming(args):  # Parquet beyond --memory-limit, --stream or --dask
        with folder as tmp:
            _say(args, run_streamed_fit(args, tmp))
        return _say(args, f"Wrote {args.out}/ (model.npz, history.csv, metrics.json, "
                          "report.html).")
    data = load_dataset(args)
    if data.dropped:
        _say(args, f"Dropped {data.dropped} row(s) with missing values (--drop-missing).")
    model = model_for(args, data, args.learning_rate)
    with folder as tmp:
        summary = run_fit(args, data, model, tmp)
    _say(args, summary)
    _say(args, f"Wrote {args.out}/ (model.npz, history.csv, metrics.json, report.html).")


def _cmd_lr_sweep(args: argparse.Namespace) -> None:
    from gdlab.cli.fitting import load_dataset, model_for, run_sweep
    from gdlab.cli.outofcore import dask_client, run_streamed_sweep, wants_streaming

    folder = RunFolder(args.out, force=args.force)
    if wants_streaming(args, dask_streams=False):  # --stream, Parquet beyond --memory-limit
        with folder as tmp:
            table = run_streamed_sweep(args, tmp)
    else:
        data = load_dataset(args)
        model = model_for(args, data, args.learning_rates[0])
        with folder as tmp, dask_client(args.dask) as client:  # --dask: each rate a task
            table = run_sweep(args, data, model, tmp, client=client)
    _say(args, table.to_string(index=False))
    _say(args, table.attrs["stability_note"])
    _say(args, f"Wrote {args.out}/ (sweep.csv, learning_rates.png, report.html).")


def _saved_and_frame(args: argparse.Namespace) -> tuple[SavedModel, pd.DataFrame]:
    from gdlab.io.preprocessing import read_table
    from gdlab.train.saving import load_saved

    saved = load_saved(args.model)
    if saved.preprocessing is None or "kind" not in saved.metadata:
        raise CommandError(f"{args.model} was not saved by `gdlab fit` (no preprocessing); "
                           "use gdlab.load() in Python for it.")
    return saved, read_table(args.data)


def _exposure_of(saved: SavedModel, frame: pd.DataFrame, *, required: bool) -> np.ndarray | None:
    from gdlab.io.preprocessing import check_exposure_column, require_columns

    name = saved.metadata.get("exposure")
    if not name or (name not in frame.columns and not required):
        return None
    require_columns(frame, [name], role="Exposure")
    return check_exposure_column(frame[name])


def _offset_of(saved: SavedModel, frame: pd.DataFrame) -> np.ndarray:
    """The rate of a CANN run's offset run (``gdlab fit --offset-model``) per row, else 1."""
    meta = saved.metadata
    if not meta.get("offset_model"):
        return np.ones(len(frame))
    from gdlab.cli.offset import offset_rates

    return offset_rates(meta["offset_model"], frame, kind=meta["kind"], target=meta["target"])


def _cmd_predict(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if not out.name.lower().endswith((".csv", ".parquet")):
        raise CommandError(f"--out {out} must end in .csv or .parquet.")
    with OutputFile(out, force=args.force) as file:  # published only if all went well
        saved, frame = _saved_and_frame(args)
        X = saved.preprocessing.transform(frame)
        exposure = _exposure_of(saved, frame, required=False)
        rate = saved.model.predict(X) * _offset_of(saved, frame)[:, None]  # CANN: μ_RUN·exp(z)
        result = _prediction_frame(saved, rate, exposure)
        if out.name.lower().endswith(".parquet"):
            result.to_parquet(file, index=False)
        else:
            file.write(result.to_csv(index=False).encode())
    print(f"Wrote {len(result)} predictions to {out}.")


def _prediction_frame(saved: SavedModel, out: np.ndarray,
                      exposure: np.ndarray | None) -> pd.DataFrame:
    kind, classes = saved.metadata["kind"], saved.metadata.get("classes")
    if kind == "logistic":
        return pd.DataFrame({"probability": out[:, 0],
                             "predicted_class": np.where(out[:, 0] >= 0.5, classes[1],
                                                         classes[0])})
    if kind == "softmax":
        frame = pd.DataFrame(out, columns=[f"p_{c}" for c in classes])
        frame["predicted_class"] = np.asarray(classes, dtype=object)[out.argmax(axis=1)]
        return frame
    if exposure is None:
        return pd.DataFrame({"prediction" if kind == "linear" else "rate": out[:, 0]})
    return pd.DataFrame({"rate": out[:, 0], "prediction": out[:, 0] * exposure})


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from gdlab.cli.fitting import metrics_for
    from gdlab.io.preprocessing import check_missing, encode_target, require_columns

    saved, frame = _saved_and_frame(args)
    meta = saved.metadata
    require_columns(frame, [meta["target"]], role="Target")
    check_missing(frame, [meta["target"]], drop_missing=False)
    y, _ = encode_target(frame[meta["target"]], meta["kind"], meta.get("classes"))
    X = saved.preprocessing.transform(frame)
    exposure = _exposure_of(saved, frame, required=True)  # the true e (None: 1 per row)
    offset = _offset_of(saved, frame) if meta.get("offset_model") else None  # CANN: μ_RUN
    metrics = metrics_for(saved.model, meta["kind"], X, y, exposure, offset_rate=offset)
    if args.json:
        print(json.dumps({"model": str(args.model), "data": str(args.data),
                          "kind": meta["kind"], "loss_name": saved.model.loss.name,
                          **metrics}, indent=2))
        return
    width = max(map(len, metrics))
    print(f"{args.model} on {args.data} ({meta['kind']}, loss {saved.model.loss.name})")
    for name, value in metrics.items():
        print(f"  {name:<{width}}  {value:.6g}")


def _cmd_lecture(args: argparse.Namespace) -> None:
    from gdlab.show import lecture

    print(lecture.render(args.example))  # no EXAMPLE: all of them, in the lecture's order


def _cmd_explore(args: argparse.Namespace) -> None:
    try:
        from gdlab import explorer

        explorer.main(port=args.port, open_browser=not args.no_browser, host=args.host)
    except ImportError as error:  # the explorer names the missing package in its cause
        missing = getattr(error.__cause__, "name", None) or error.name or error
        raise CommandError(f"gdlab explore needs the explore extra ({missing} is missing); "
                           'install it with: pip install "gdlab[explore]"') from None


def _cmd_demo(args: argparse.Namespace) -> None:
    from gdlab.cli.demo import run_demo

    run_demo(args.out, force=args.force, quiet=args.quiet)


_COMMANDS = {"demo": _cmd_demo, "lecture": _cmd_lecture, "fit": _cmd_fit,
             "predict": _cmd_predict, "evaluate": _cmd_evaluate, "lr-sweep": _cmd_lr_sweep,
             "explore": _cmd_explore}


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


#: what the user can fix: their input (gdlab's UserError, a CommandError) or their system
#: (a missing file, a full disk, a permission: OSError). Anything else is a bug in gdlab.
USER_ERRORS = (UserError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gdlab`` command; returns the exit status.

    0 on success; 2 for a user error (one line on stderr); 130 when interrupted; 1 for
    a bug in gdlab, with its traceback (a bug is never dressed up as a user error).
    """
    args = build_parser().parse_args(argv)
    # matplotlib's own notices (e.g. "created a temporary cache directory" when HOME is
    # read-only) are not the user's business: stderr keeps one line per error
    notices = logging.getLogger("matplotlib")
    level = notices.level
    notices.setLevel(logging.ERROR)
    try:
        return _run(args)
    finally:
        notices.setLevel(level)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command: its exit status, its error as one line or a traceback."""
    import matplotlib

    matplotlib.use("Agg")
    start = time.perf_counter()
    try:
        _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"gdlab {args.command}: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if os.environ.get("GDLAB_DEBUG"):
            raise
        print(f"gdlab {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Exception:  # a bug, not bad input: keep the traceback, say so, status 1
        traceback.print_exc()
        print(f"gdlab {args.command}: internal error: this is a bug in gdlab, not in your "
              "input; please report it with the traceback above.", file=sys.stderr)
        return 1
    if args.command in ("fit", "lr-sweep", "demo"):
        _say(args, f"Done in {time.perf_counter() - start:.1f} s.")
    return 0
