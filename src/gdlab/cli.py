"""The ``gdlab`` command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gdlab`` command."""
    print("gdlab: the command line is being built", file=sys.stderr)
    return 2
