"""The command line shared by the benchmarks that write one page (``--rows``, ``--repeats``,
``--smoke``, ``--out``, ``--quiet``): ``python -m benchmarks.embeddings`` and
``python -m benchmarks.precision``."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

#: a smoke run's size: a few seconds, for the test suite
SMOKE_ROWS, SMOKE_REPEATS = 2_000, 1


def parse(argv: list[str] | None, *, prog: str, doc: str, rows: int, out: Path,
          smoke_help: str) -> tuple[argparse.Namespace, Callable[[str], None]]:
    """The arguments (a smoke run shrunk to :data:`SMOKE_ROWS` rows and one repeat) and
    the progress log (silent with ``--quiet``)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.repeats = min(args.rows, SMOKE_ROWS), SMOKE_REPEATS
    log = (lambda message: None) if args.quiet else (lambda message: print(message, flush=True))
    return args, log


def command(prog: str, argv: list[str] | None) -> str:
    """The command line that made the page, as the page quotes it."""
    return f"{prog} {shlex.join(argv if argv is not None else sys.argv[1:])}".strip()


def write(out: Path, text: str, log: Callable[[str], None]) -> Path:
    """Write the page (making its folder) and print it; return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    log(text)
    return out
