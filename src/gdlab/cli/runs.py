"""Run folders and output files: a command's output is written whole, or not at all.

Both are written into a hidden temporary next to their target and moved into place only
when complete, so an interrupted run leaves nothing half-written. An existing output is
replaced only with ``--force``; without it, an output that appears while the command
runs (another process, a second terminal) is kept and the command fails: a run folder
is renamed into place only if ``out`` is still absent or an empty folder, and an output
file is published by :func:`os.link`, which refuses an existing name (``O_EXCL``
semantics), never by :func:`os.replace`.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from gdlab._checks import UserError
from gdlab.io.files import create_file_beside, create_folder_beside, sync_folder

__all__ = ["CommandError", "OutputFile", "RunFolder", "refuse_existing"]

#: what a rename onto a name that another process took meanwhile fails with
_TAKEN = (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR)


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


def _cannot_write(out: Path, error: OSError) -> CommandError:
    """The one-line error for an output that cannot be made (not naming the temporary)."""
    reason = error.strerror or str(error)
    where = Path(error.filename) if error.filename else out.parent
    if where.name.startswith(f".{out.name}."):  # the hidden temporary: name its folder
        where = where.parent
    return CommandError(f"Cannot write --out {out}: {reason} ({where}); choose another --out.")


class _Output:
    """What a run folder and an output file share: the refusal of an existing ``out``, the
    parent folders made for the run (removed again if the run fails), the clean-up."""

    what = "Output folder"

    def __init__(self, out: str | os.PathLike[str], *, force: bool) -> None:
        self.out = Path(out)
        self.force = force
        refuse_existing(self.out, force=force, what=self.what)
        self.tmp: Path | None = None
        self.made: list[Path] = []

    def _make_parents(self) -> None:
        self.made = [p for p in self.out.parents if not p.exists()]  # innermost first
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _cannot_write(self.out, error) from None

    def _appeared(self) -> CommandError:
        return CommandError(f"{self.what} {self.out} appeared while the command ran; it was "
                            "kept. Use --force to replace it, or choose another --out.")

    def _clean_up(self) -> None:
        if self.tmp is not None and self.tmp.exists():
            if self.tmp.is_dir():
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                self.tmp.unlink(missing_ok=True)
        for folder in self.made:  # made for this run and still empty: remove
            try:
                folder.rmdir()
            except OSError:
                break


class RunFolder(_Output):
    """A context manager: ``with RunFolder(out, force=...) as tmp:`` write into ``tmp``.

    On success the temporary folder replaces ``out`` (its mode follows the umask, and the
    rename is synced to disk); on any error, including an ``out`` that appeared during
    the run, the temporary folder and the folders made for the run are removed, and
    ``out`` (or the folder it replaced with ``--force``) is as it was.
    """

    def __enter__(self) -> Path:
        self._make_parents()
        try:
            self.tmp = create_folder_beside(self.out, suffix=".partial")
        except OSError as error:
            self._clean_up()
            raise _cannot_write(self.out, error) from None
        return self.tmp

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if kind is None:
                self._publish()
        finally:
            self._clean_up()

    def _publish(self) -> None:
        """Move the finished folder to ``out`` (with ``force``, the old one aside, then
        deleted; without, :func:`os.replace` fails on a non-empty folder that appeared)."""
        refuse_existing(self.out, force=self.force)
        old = None
        if self.force and self.out.exists():  # without force, the rename itself refuses
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
        try:
            os.replace(self.tmp, self.out)  # type: ignore[arg-type]
        except BaseException as error:
            if old is not None:
                os.replace(old, self.out)
            if isinstance(error, OSError) and error.errno in _TAKEN:
                raise self._appeared() from None
            raise
        sync_folder(self.out.parent)
        if old is not None:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


class OutputFile(_Output):
    """A context manager: ``with OutputFile(out, force=...) as file:`` write ``out``'s bytes.

    The bytes go to a hidden temporary file beside ``out`` (mode 0666 less the umask). On
    success it is flushed to disk and published: with ``force`` by :func:`os.replace`;
    without, by :func:`os.link`, which fails if ``out`` exists by then, so a file that
    appeared while the command ran is kept and the command fails (where a file system has
    no hard links, ``out`` is created with ``O_EXCL`` and the bytes copied into it). On
    any error the temporary file and the folders made for it are removed.
    """

    what = "Output file"

    def __init__(self, out: str | os.PathLike[str], *, force: bool) -> None:
        if Path(out).is_dir():
            raise CommandError(f"--out {out} is a folder; give a file name, e.g. "
                               f"{Path(out) / 'predictions.csv'}.")
        super().__init__(out, force=force)
        self._file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        self._make_parents()
        try:
            handle, self.tmp = create_file_beside(self.out)
        except OSError as error:
            self._clean_up()
            raise _cannot_write(self.out, error) from None
        self._file = os.fdopen(handle, "wb")
        return self._file

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            with self._file:  # type: ignore[union-attr]
                if kind is None:
                    self._file.flush()  # type: ignore[union-attr]
                    os.fsync(self._file.fileno())  # type: ignore[union-attr]
            if kind is None:
                self._publish()
        finally:
            self._clean_up()

    def _publish(self) -> None:
        """Give the temporary file the name ``out``: exclusively unless ``force``."""
        if self.force:
            os.replace(self.tmp, self.out)  # type: ignore[arg-type]
        else:
            try:
                os.link(self.tmp, self.out)  # type: ignore[arg-type]
            except FileExistsError:
                raise self._appeared() from None
            except OSError:  # no hard links here (some network or FAT file systems)
                self._copy_exclusively()
        sync_folder(self.out.parent)

    def _copy_exclusively(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            handle = os.open(self.out, flags, 0o666)
        except FileExistsError:
            raise self._appeared() from None
        try:
            with os.fdopen(handle, "wb") as target, Path(self.tmp).open("rb") as source:
                shutil.copyfileobj(source, target)
                target.flush()
                os.fsync(target.fileno())
        except BaseException:
            self.out.unlink(missing_ok=True)
            raise

