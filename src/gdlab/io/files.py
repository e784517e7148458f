"""Files written safely: temporaries beside their target, umask modes, synced folders.

:func:`tempfile.mkstemp` and :func:`tempfile.mkdtemp` create 0600 files and 0700 folders
whatever the umask, and a file renamed into place from one keeps that mode. Here a
temporary file or folder is created with ``os.open(..., 0o666)`` / ``os.mkdir(..., 0o777)``
under an unguessable name (``O_EXCL``: never someone else's file), so the kernel applies
the umask as for any file the user writes (0644 / 0755 under umask 022). After
:func:`os.replace` moves it into place, :func:`sync_folder` makes the rename itself
durable: the new directory entry is on disk, not only the file's bytes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["create_file_beside", "create_folder_beside", "sync_folder"]

_ATTEMPTS = 100  #: names to try before giving up (each is 48 random bits)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")


def create_file_beside(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new hidden file next to ``path`` (mode 0666 less the umask): (descriptor, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        temp = _beside(path, suffix)
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


def create_folder_beside(path: Path, suffix: str = ".partial") -> Path:
    """A new hidden folder next to ``path`` (mode 0777 less the umask)."""
    for _ in range(_ATTEMPTS):
        temp = _beside(path, suffix)
        try:
            temp.mkdir(0o777)
            return temp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary folder next to {path}")


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that the renames into it survive a crash (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder: nothing more to do
        pass
    finally:
        os.close(fd)
