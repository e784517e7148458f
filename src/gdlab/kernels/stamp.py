r"""A cache stamp for the kernels that changes with any of their sources or codes.

numba invalidates a cached function when *its own* source file changes, and freezes the
module-level integers it reads (the codes of :mod:`gdlab.kernels.codes`) into the
machine code. Both go stale silently here: an entry point in ``epoch.py`` inlines the
code of ``rows.py``, ``blocks.py`` and ``updates.py``, and the codes are derived from
the registries of :mod:`gdlab.nn` and :mod:`gdlab.optim` (a new optimizer shifts them).
A cached kernel compiled before such a change would branch on the old codes.

So the kernels' functions are cached through numba's own locators (same folders, see
:mod:`gdlab.kernels.cache`) with one source stamp for all of them: a hash of every
compiled module of ``gdlab/kernels`` and of the code tables. Any change recompiles.
Installed at import by :mod:`gdlab.kernels.jit` (numba's documented extension point,
``CacheImpl._locator_classes``); functions outside ``gdlab/kernels`` are not touched.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from numba.core import caching

from gdlab.kernels import codes
from gdlab.kernels.cache import COMPILED

__all__ = ["STAMP", "install", "kernel_stamp"]

_SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))


def kernel_stamp(tables: tuple[dict[str, int], ...] | None = None) -> str:
    """sha256 of the compiled modules' sources and of the code tables."""
    digest = hashlib.sha256()
    for name in COMPILED:
        with open(os.path.join(_SOURCE_DIR, name), "rb") as file:
            digest.update(file.read())
    tables = tables or (codes.ACTIVATION_CODES, codes.LOSS_CODES, codes.RULE_CODES,
                        codes.SCHEDULE_CODES)
    digest.update(repr([sorted(table.items()) for table in tables]).encode())
    return digest.hexdigest()


STAMP = kernel_stamp()


def _stamped(base: type) -> type:
    """numba's locator ``base``, for gdlab/kernels only, with the kernels' stamp."""

    class Stamped(base):  # type: ignore[misc, valid-type]
        def get_source_stamp(self) -> str:
            return STAMP

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if os.path.dirname(os.path.abspath(py_file)) != _SOURCE_DIR:
                return None
            return super().from_function(py_func, py_file)

    Stamped.__name__ = Stamped.__qualname__ = f"Kernel{base.__name__.lstrip('_')}"
    return Stamped


def install() -> None:
    """Put the stamped locators first in numba's list (once)."""
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    if any(getattr(cls, "__name__", "").startswith("Kernel") for cls in impl._locator_classes):
        return
    bases = [getattr(caching, name, None) or getattr(caching, f"_{name}") for name in
             ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")]
    impl._locator_classes[0:0] = [_stamped(base) for base in bases]
