r"""Where numba keeps the compiled kernels on disk, and whether it holds one (no numba).

The kernels are compiled with ``cache=True``: numba writes the machine code to the first
of these folders that it can write to, and loads it from there in later processes:

1. ``NUMBA_CACHE_DIR`` (the environment variable), if set;
2. ``__pycache__`` beside the source (``gdlab/kernels/``), if writable;
3. the user's cache folder (``~/.cache/numba`` on Linux): numba's own fallback for a
   read-only site-packages;
4. if neither is writable (a read-only install and no home folder: some containers),
   :func:`fallback_dir`, a folder in the temporary directory that
   :mod:`gdlab.kernels.jit` hands to numba, which would otherwise refuse to define a
   cached function at all.

:func:`cached` answers, without importing numba (0.3 s), whether the folder holds an
entry point compiled by this numba for the current source:
:mod:`gdlab.kernels.choice` counts its load time instead of its compile time.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import pickle
import stat
import sys
import tempfile
from hashlib import sha1
from pathlib import Path

from gdlab.nn import activations, losses
from gdlab.optim import optimizers, schedules

__all__ = ["COMPILED", "cache_dir", "cached", "fallback_dir"]

_SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))  # as numba's locators see it
#: the modules whose code is compiled into the entry points (:mod:`gdlab.kernels.stamp`)
COMPILED = ("blocks.py", "codes.py", "embeddings.py", "epoch.py", "jit.py", "rows.py", "specs.py",
            "updates.py")
#: the registries the codes come from
_REGISTRIES = (activations, losses, optimizers, schedules)


def _writable(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (made if missing), as numba checks it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _user_dir() -> Path:
    """numba's user-wide cache folder (appdirs' user cache folder of "numba")."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "numba"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "numba" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"


def fallback_dir() -> Path | None:
    """A temporary cache folder if numba would find none of its own, else None."""
    numba = sys.modules.get("numba")
    if (numba.config.CACHE_DIR if numba else os.environ.get("NUMBA_CACHE_DIR")):
        return None
    if _writable(Path(_SOURCE_DIR) / "__pycache__") or _writable(_user_dir()):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return _private_dir(Path(tempfile.gettempdir()) / f"gdlab-numba-cache-{uid}")


def _private_dir(folder: Path) -> Path:
    """``folder`` if it is (or can be made) a real folder of ours that nobody else can write
    to; otherwise a new private temporary folder.

    The temporary directory is shared by every user: another user could make ``folder``
    first and plant cache files there, and numba's cache index is a pickle. So the folder
    is used only if it is not a link, is owned by this user and is not writable by group or
    others.
    """
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return Path(tempfile.mkdtemp(prefix="gdlab-numba-cache-"))
    try:
        info = os.lstat(folder)
    except OSError:
        return Path(tempfile.mkdtemp(prefix="gdlab-numba-cache-"))
    ours = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    if stat.S_ISDIR(info.st_mode) and ours and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return folder
    return Path(tempfile.mkdtemp(prefix="gdlab-numba-cache-"))


def cache_dir() -> Path:
    """The folder numba caches gdlab/kernels in (the first of the list above)."""
    subpath = f"{os.path.basename(_SOURCE_DIR)}_{sha1(_SOURCE_DIR.encode()).hexdigest()}"
    numba = sys.modules.get("numba")
    user_given = numba.config.CACHE_DIR if numba else os.environ.get("NUMBA_CACHE_DIR")
    if user_given:
        return Path(user_given) / subpath
    in_tree = Path(_SOURCE_DIR) / "__pycache__"
    if _writable(in_tree):
        return in_tree
    if _writable(_user_dir()):
        return _user_dir() / subpath
    return Path(fallback_dir() or tempfile.gettempdir()) / subpath


def _first_line(kernel: str) -> int:
    """The line numba names the cache file of the entry point by (its first decorator)."""
    tree = ast.parse((Path(_SOURCE_DIR) / "epoch.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == kernel:
            return min([node.lineno, *(d.lineno for d in node.decorator_list)])
    raise LookupError(f"gdlab.kernels.epoch has no function {kernel!r}")


def cached(kernel: str) -> bool:
    """Whether numba's disk cache holds the entry point ``kernel`` of
    :mod:`gdlab.kernels.epoch`: an index newer than the kernels' sources and the
    registries (which :mod:`gdlab.kernels.stamp` hashes), written by this numba."""
    sources = [Path(_SOURCE_DIR) / name for name in COMPILED]
    sources += [Path(module.__file__) for module in _REGISTRIES if module.__file__]
    name = (f"epoch.{kernel}-{_first_line(kernel)}.py{sys.version_info[0]}"
            f"{sys.version_info[1]}{getattr(sys, 'abiflags', '')}.nbi")
    try:
        version = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return False
    index = cache_dir() / name
    try:
        if index.stat().st_mtime < max(source.stat().st_mtime for source in sources):
            return False  # a source changed since: the stamp differs, numba recompiles
        with index.open("rb") as file:
            return bool(pickle.load(file) == version)  # the index starts with the version
    except (OSError, pickle.UnpicklingError, EOFError):
        return False
