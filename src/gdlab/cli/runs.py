"""Run folders: a command's output is written whole, or not at all.

A run folder is written into a hidden temporary folder next to it and renamed into
place only when complete, so an interrupted run leaves nothing half-written; an
existing non-empty folder is replaced only with ``--force``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType

from gdlab._checks import UserError
from gdlab.io.files import create_folder_beside, sync_folder

__all__ = ["CommandError", "RunFolder", "refuse_existing"]


class CommandError(UserError):
    """A user error of a command (a flag that does not fit the data, an existing output):
    printed as one line, exit status 2."""


def refuse_existing(path: Path, *, force: bool, what: str = "Output folder") -> None:
    """Raise unless ``path`` is absent, an empty folder, or ``force`` is given."""
    if not path.exists() or force:
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise CommandError(f"{what} {path} already exists; use --force to replace it, or choose "
                     "another --out.")


class RunFolder:
    """A context manager: ``with RunFolder(out, force=...) as tmp:`` write into ``tmp``.

    On success the temporary folder replaces ``out`` (its mode follows the umask, and the
    rename is synced to disk); on any error, including an ``out`` that appeared during
    the run, the temporary folder and the folders made for the run are removed, and
    ``out`` (or the folder it replaced with ``--force``) is as it was.
    """

    def __init__(self, out: str | os.PathLike[str], *, force: bool) -> None:
        self.out = Path(out)
        self.force = force
        refuse_existing(self.out, force=force)
        self.tmp: Path | None = None
        self.made: list[Path] = []

    def __enter__(self) -> Path:
        self.made = [p for p in self.out.parents if not p.exists()]  # innermost first
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = create_folder_beside(self.out, suffix=".partial")
        return self.tmp

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if kind is None:
                self._publish()
        finally:
            if self.tmp is not None and self.tmp.exists():
                shutil.rmtree(self.tmp, ignore_errors=True)
            for folder in self.made:  # made for this run and still empty: remove
                try:
                    folder.rmdir()
                except OSError:
                    break

    def _publish(self) -> None:
        """Move the finished folder to ``out`` (the old one aside, then deleted)."""
        refuse_existing(self.out, force=self.force)
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
        try:
            os.replace(self.tmp, self.out)  # type: ignore[arg-type]
        except BaseException:
            if old is not None:
                os.replace(old, self.out)
            raise
        sync_folder(self.out.parent)
        if old is not None:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
