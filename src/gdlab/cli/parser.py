"""The ``gdlab`` command line: its flags, their types and one-line errors for bad ones.

Every flag's value is checked as it is parsed (``--batch-size full|1|K``, ``--epochs``
a positive integer, …), so a typo is one line on stderr and exit status 2, before any
data is read. :func:`build_parser` gives the parser of all the commands.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any, NoReturn

from gdlab.cli.presets import KINDS

__all__ = ["build_parser"]


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


def _checked(convert: Callable[[str], Any], accept: Callable[[Any], bool],
             requirement: str) -> Callable[[str], Any]:
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
_port = _checked(int, lambda v: 0 <= v <= 65535, "a port number in 0…65535 (0: any free port)")
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


_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
          "T": 1e12, "TB": 1e12}


def memory_size(text: str) -> int:
    """Bytes from ``"2GB"``, ``"500MB"``, ``"1.5G"`` or a number of bytes (argparse type)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?B?)\s*", text.upper())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"must be a size such as 2GB or 500MB; got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- the parser ---------------------------------------------------------------------------
def _add_data_options(parser: argparse.ArgumentParser, *, epochs: int, optimizer: str) -> None:
    parser.add_argument("data", metavar="DATA",
                        help="CSV (.csv, .csv.gz) or Parquet: a file, a folder or a glob")
    parser.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    parser.add_argument("--features", type=_name_list, metavar="C1,C2,…",
                        help="input columns (default: all but target and exposure)")
    parser.add_argument("--exposure", metavar="COL", help="exposure column (rate models)")
    parser.add_argument("--categorical", type=_name_list, default=[], metavar="C1,C2,…",
                        help="numeric columns to one-hot encode as codes (text columns always are)")
    parser.add_argument("--model", default="linear", choices=KINDS,
                        help="the preset (default linear)")
    parser.add_argument("--power", type=float, default=1.5, help="Tweedie power (1, 2)")
    parser.add_argument("--hidden", type=_int_list, default=[], metavar="32,16",
                        help="hidden layer sizes (default: none, a GLM)")
    parser.add_argument("--activation", default="relu",
                        choices=["relu", "tanh", "sigmoid", "linear"],
                        help="activation of the hidden layers")
    parser.add_argument("--batch-size", type=_batch_size, default=256, metavar="full|1|K",
                        help="full: batch GD; 1: stochastic; K: mini-batch (default 256)")
    parser.add_argument("--epochs", type=_positive_int, default=epochs)
    parser.add_argument("--optimizer", default=optimizer,
                        choices=["sgd", "momentum", "adam", "nadam"])
    parser.add_argument("--embedding-dim", type=_positive_int, metavar="D",
                        help="learn D-dimensional embeddings of the categorical columns")
    parser.add_argument("--offset-model", metavar="RUN",
                        help="a saved log-link run whose rate is a frozen offset (CANN)")
    parser.add_argument("--seed", type=_non_negative_int, default=0)
    parser.add_argument("--executor", default="auto", choices=["auto", "numpy", "compiled"],
                        help="numpy: the step-by-step reference; compiled: numba (default auto)")
    parser.add_argument("--drop-missing", action="store_true",
                        help="drop rows with missing values in the used columns")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the run")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    _add_out_of_core_options(parser)


def _add_out_of_core_options(parser: argparse.ArgumentParser) -> None:
    """--stream, --memory-limit, --dask (:mod:`gdlab.cli.outofcore`)."""
    parser.add_argument("--stream", action="store_true",
                        help="read Parquet DATA row group by row group (out of core)")
    parser.add_argument("--memory-limit", type=memory_size, metavar="SIZE",
                        help="stream Parquet DATA needing more than SIZE (e.g. 4GB)")
    parser.add_argument("--dask", metavar="ADDRESS|local:N",
                        help="a Dask scheduler, or local:N worker processes (lr-sweep: "
                             "each rate a task; with --stream it streams DATA there)")


def build_parser() -> argparse.ArgumentParser:
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
    explore.add_argument("--port", type=_port, default=8050,
                         help="0 picks a free port (default 8050)")
    explore.add_argument("--no-browser", action="store_true")
    explore.add_argument("--host", default="127.0.0.1",
                         help="0.0.0.0 serves the class on the network (see docs/explorer.md)")
    return parser
