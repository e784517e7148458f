"""The ``gdlab`` command: parser, commands, run folders and presets, the demo."""

from gdlab.cli.main import main

__all__ = ["main"]
