"""The ``gdlab`` command: demo, lecture, fit, predict, evaluate, lr-sweep, explore.

Every error is one line on stderr and exit status 2, with no traceback (set the
environment variable ``GDLAB_DEBUG=1`` to see it); nothing is written when a command
fails, and an existing output is replaced only with ``--force``.
See ``docs/cli.md`` for the commands and examples.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

__all__ = ["main"]


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


# --- argument types (each error is one line) ----------------------------------------------
def _batch_size(text: str) -> int | str:
    if text == "full":
        return "full"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be 'full', 1 or a positive integer K; got {text!r}")
    return value


def _checked(convert: Any, accept: Any, requirement: str) -> Any:
    """An argparse type: ``convert`` the text, then require ``accept(value)``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}; got {text!r}")
        return value

    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _checked(float, lambda v: math.isfinite(v) and v > 0, "a number > 0")
_fraction = _checked(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")


def _int_list(text: str) -> list[int]:
    if text.strip() in ("", "none"):
        return []
    try:
        return [_positive_int(part.strip()) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be layer sizes separated by commas, e.g. 32,16; got {text!r}") from None


def _float_list(text: str) -> list[float]:
    try:
        values = [_positive_float(part.strip()) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be rates > 0 separated by commas, e.g. 0.001,0.01,0.1; got {text!r}") from None
    return values


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must be column names separated by commas; got {text!r}")
    return names


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- the parser ---------------------------------------------------------------------------
def _add_data_options(parser: argparse.ArgumentParser, *, epochs: int, optimizer: str) -> None:
    parser.add_argument("data", metavar="DATA", help="CSV (.csv, .csv.gz) or Parquet file")
    parser.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    parser.add_argument("--features", type=_name_list, metavar="C1,C2,…",
                        help="input columns (default: all but target and exposure)")
    parser.add_argument("--exposure", metavar="COL", help="exposure column (rate models)")
    parser.add_argument("--categorical", type=_name_list, default=[], metavar="C1,C2,…",
                        help="numeric columns to one-hot encode as codes (text columns always are)")
    parser.add_argument("--model", default="linear",
                        choices=["linear", "logistic", "softmax", "poisson", "gamma",
                                 "tweedie"], help="the preset (default linear)")
    parser.add_argument("--power", type=float, default=1.5, help="Tweedie power (1, 2)")
    parser.add_argument("--hidden", type=_int_list, default=[], metavar="32,16",
                        help="hidden layer sizes (default: none, a GLM)")
    parser.add_argument("--activation", default="relu",
                        choices=["relu", "tanh", "sigmoid", "linear"],
                        help="activation of the hidden layers")
    parser.add_argument("--batch-size", type=_batch_size, default=256, metavar="full|1|K",
                        help="full: batch GD; 1: stochastic; K: mini-batch (default 256)")
    parser.add_argument("--epochs", type=_positive_int, default=epochs)
    parser.add_argument("--optimizer", default=optimizer, choices=["sgd", "momentum", "adam"])
    parser.add_argument("--seed", type=_non_negative_int, default=0)
    parser.add_argument("--executor", default="auto", choices=["auto", "numpy", "compiled"],
                        help="numpy: the step-by-step reference; compiled: numba (default auto)")
    parser.add_argument("--drop-missing", action="store_true",
                        help="drop rows with missing values in the used columns")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the run")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--quiet", action="store_true", help="print nothing")


def _parser() -> _Parser:
    parser = _Parser(prog="gdlab", description="Train dense neural networks by gradient "
                     "descent, and see every step of it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="the main job on embedded real data")
    demo.add_argument("--out", default="gdlab-demo", metavar="DIR")
    demo.add_argument("--force", action="store_true")
    demo.add_argument("--quiet", action="store_true")
    lecture = commands.add_parser("lecture", help="the lecture's worked examples")
    lecture.add_argument("example", nargs="?", metavar="EXAMPLE")
    fit = commands.add_parser("fit", help="train a model on a table")
    _add_data_options(fit, epochs=20, optimizer="adam")
    fit.add_argument("--learning-rate", type=_positive_float, default=0.01, metavar="η")
    fit.add_argument("--validation-split", type=_fraction, default=0.2, metavar="F",
                     help="random fraction of rows held out (default 0.2)")
    fit.add_argument("--early-stopping", type=_positive_int, metavar="P",
                     help="stop after P epochs without improvement")
    fit.add_argument("--trace", type=_non_negative_int, default=0, metavar="N",
                     help="put the first N steps' tables in the report")
    predict = commands.add_parser("predict", help="predict with a saved model")
    predict.add_argument("model", metavar="MODEL", help="run folder or model file")
    predict.add_argument("data", metavar="DATA")
    predict.add_argument("--out", required=True, metavar="FILE", help=".csv or .parquet")
    predict.add_argument("--force", action="store_true")
    evaluate = commands.add_parser("evaluate", help="losses and metrics of a saved model")
    evaluate.add_argument("model", metavar="MODEL")
    evaluate.add_argument("data", metavar="DATA")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    sweep = commands.add_parser("lr-sweep", help="the same model at several learning rates")
    _add_data_options(sweep, epochs=20, optimizer="sgd")
    sweep.add_argument("--learning-rates", type=_float_list, required=True,
                       metavar="0.001,0.01,0.1,1")
    explore = commands.add_parser("explore", help="the interactive demo in the browser")
    explore.add_argument("--port", type=_positive_int, default=8050)
    explore.add_argument("--no-browser", action="store_true")
    return parser


# --- data ---------------------------------------------------------------------------------
@dataclass
class Dataset:
    """A validated, encoded table."""

    X: np.ndarray
    y: np.ndarray
    exposure: np.ndarray | None
    classes: list[Any] | None
    preprocessing: Any
    rows: int
    dropped: int


def load_dataset(args: argparse.Namespace) -> Dataset:
    """Read DATA and check it for ``--model``; every problem is a one-line error."""
    from gdlab.cli.runs import LOG_LINK
    from gdlab.io.preprocessing import (
        Preprocessor,
        check_exposure_column,
        check_missing,
        encode_target,
        read_table,
        require_columns,
    )

    if args.exposure and args.model not in (*LOG_LINK, "linear"):
        raise CommandError(f"--exposure is for rate models (poisson, gamma, tweedie, linear), "
                           f"not --model {args.model}.")
    frame = read_table(args.data)
    require_columns(frame, [args.target], role="Target")
    if args.exposure:
        require_columns(frame, [args.exposure], role="Exposure")
    features = args.features or [c for c in frame.columns if c not in (args.target, args.exposure)]
    if args.target in features or (args.exposure and args.exposure in features):
        raise CommandError("--features must not include the target or exposure column.")
    require_columns(frame, features, role="Feature")
    used = [args.target, *features] + ([args.exposure] if args.exposure else [])
    frame, dropped = check_missing(frame, used, drop_missing=args.drop_missing)
    y, classes = encode_target(frame[args.target], args.model)
    exposure = check_exposure_column(frame[args.exposure]) if args.exposure else None
    preprocessing = Preprocessor.fit(frame, features, categorical=args.categorical)
    X = preprocessing.transform(frame)
    return Dataset(X, y, exposure, classes, preprocessing, len(frame), dropped)


def _optimizer(name: str, learning_rate: float) -> Any:
    from gdlab.optim.optimizers import SGD, Adam

    if name == "adam":
        return Adam(learning_rate=learning_rate)
    return SGD(learning_rate=learning_rate, momentum=0.9 if name == "momentum" else 0.0)


def _model_for(args: argparse.Namespace, data: Dataset, learning_rate: float) -> Any:
    from gdlab.cli.runs import build_model

    return build_model(args.model, data.X.shape[1], data.y, exposure=data.exposure,
                       n_classes=len(data.classes or []), hidden=args.hidden,
                       activation=args.activation, seed=args.seed, power=args.power,
                       optimizer=_optimizer(args.optimizer, learning_rate))


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, flush=True)


# --- commands -----------------------------------------------------------------------------
def _cmd_fit(args: argparse.Namespace) -> None:
    from gdlab.cli.runs import RunFolder, run_fit

    folder = RunFolder(args.out, force=args.force)
    data = load_dataset(args)
    if data.dropped:
        _say(args, f"Dropped {data.dropped} row(s) with missing values (--drop-missing).")
    model = _model_for(args, data, args.learning_rate)
    with folder as tmp:
        summary = run_fit(args, data, model, tmp)
    _say(args, summary)
    _say(args, f"Wrote {args.out}/ (model.npz, history.csv, metrics.json, report.html).")


def _cmd_lr_sweep(args: argparse.Namespace) -> None:
    from gdlab.cli.runs import RunFolder, run_sweep

    folder = RunFolder(args.out, force=args.force)
    data = load_dataset(args)
    model = _model_for(args, data, args.learning_rates[0])
    with folder as tmp:
        table = run_sweep(args, data, model, tmp)
    _say(args, table.to_string(index=False))
    _say(args, f"Wrote {args.out}/ (sweep.csv, learning_rates.png, report.html).")


def _saved_and_frame(args: argparse.Namespace) -> tuple[Any, pd.DataFrame]:
    from gdlab.io.preprocessing import read_table
    from gdlab.train.saving import load_saved

    saved = load_saved(args.model)
    if saved.preprocessing is None or "kind" not in saved.metadata:
        raise CommandError(f"{args.model} was not saved by `gdlab fit` (no preprocessing); "
                           "use gdlab.load() in Python for it.")
    return saved, read_table(args.data)


def _exposure_of(saved: Any, frame: pd.DataFrame, *, required: bool) -> np.ndarray | None:
    from gdlab.io.preprocessing import check_exposure_column, require_columns

    name = saved.metadata.get("exposure")
    if not name or (name not in frame.columns and not required):
        return None
    require_columns(frame, [name], role="Exposure")
    return check_exposure_column(frame[name])


def _cmd_predict(args: argparse.Namespace) -> None:
    from gdlab.cli.runs import refuse_existing
    from gdlab.io.persistence import atomic_write

    out = Path(args.out)
    if not out.name.lower().endswith((".csv", ".parquet")):
        raise CommandError(f"--out {out} must end in .csv or .parquet.")
    refuse_existing(out, force=args.force, what="Output file")
    saved, frame = _saved_and_frame(args)
    X = saved.preprocessing.transform(frame)
    exposure = _exposure_of(saved, frame, required=False)
    result = _prediction_frame(saved, saved.model.predict(X), exposure)
    if out.name.lower().endswith(".parquet"):
        atomic_write(out, lambda file: result.to_parquet(file, index=False))
    else:
        atomic_write(out, lambda file: file.write(result.to_csv(index=False).encode()))
    print(f"Wrote {len(result)} predictions to {out}.")


def _prediction_frame(saved: Any, out: np.ndarray, exposure: np.ndarray | None) -> pd.DataFrame:
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
    from gdlab.cli.runs import metrics_for
    from gdlab.io.preprocessing import check_missing, encode_target, require_columns

    saved, frame = _saved_and_frame(args)
    meta = saved.metadata
    require_columns(frame, [meta["target"]], role="Target")
    check_missing(frame, [meta["target"]], drop_missing=False)
    y, _ = encode_target(frame[meta["target"]], meta["kind"], meta.get("classes"))
    X = saved.preprocessing.transform(frame)
    exposure = _exposure_of(saved, frame, required=True)
    metrics = metrics_for(saved.model, meta["kind"], X, y, exposure)
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

        explorer.main(port=args.port, open_browser=not args.no_browser)
    except ImportError as error:
        raise CommandError(f"The explorer needs extra packages ({error}); install them with: "
                           'pip install "gdlab[explore]"') from None


def _cmd_demo(args: argparse.Namespace) -> None:
    from gdlab.cli.demo import run_demo

    run_demo(args.out, force=args.force, quiet=args.quiet)


_COMMANDS = {"demo": _cmd_demo, "lecture": _cmd_lecture, "fit": _cmd_fit,
             "predict": _cmd_predict, "evaluate": _cmd_evaluate, "lr-sweep": _cmd_lr_sweep,
             "explore": _cmd_explore}


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gdlab`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    start = time.perf_counter()
    try:
        _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"gdlab {args.command}: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, OSError) as error:
        if os.environ.get("GDLAB_DEBUG"):
            raise
        print(f"gdlab {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # a bug, not bad input: still one line, status 1
        if os.environ.get("GDLAB_DEBUG"):
            raise
        print(f"gdlab {args.command}: internal error: {type(error).__name__}: "
              f"{_one_line(error)} (run with GDLAB_DEBUG=1 for the traceback, and please "
              "report it)", file=sys.stderr)
        return 1
    if args.command in ("fit", "lr-sweep", "demo"):
        _say(args, f"Done in {time.perf_counter() - start:.1f} s.")
    return 0

