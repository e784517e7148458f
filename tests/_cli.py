"""Running the ``gdlab`` command inside a test: its exit status and what it printed."""

from __future__ import annotations

from gdlab.cli import main


def run(argv, capsys):
    """Run the command; return (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse (bad flags, --help)
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err
