"""A guard against a reference-counting bug of PySide6 6.12.0 on CPython 3.10/3.11.

PySide6 6.12.0's abi3 wheels return ``None`` from void methods (``setText``, ``setVisible``,
``setPen``…) without a new reference, and drop references to ``True``/``False`` on some paths.
On CPython ≥ 3.12 those objects are immortal (PEP 683) and nothing happens; on 3.11 every call
costs one reference. The Overview's charts make thousands of such calls a second (measured:
None −150/s, True −48/s with the page on screen), so the process aborts within minutes
("Fatal Python error: bool_dealloc") and always at exit. PySide6 6.11.2 does not do this.

:func:`pin_singletons` gives the three singletons a reference count no program can spend
(2⁴⁰), which is what CPython 3.12 does for them. It runs only on the affected combination and
once. The real fix is in the environment: PySide6 ≠ 6.12.0 or Python ≥ 3.12.
"""

from __future__ import annotations

import ctypes
import sys

import PySide6

PIN = 1 << 40
_pinned = False


def affected() -> bool:
    return sys.version_info < (3, 12) and PySide6.__version__.startswith("6.12.")


def pin_singletons() -> bool:
    """True if the reference counts were raised now (affected versions, first call only)."""
    global _pinned
    if _pinned or not affected():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += PIN  # ob_refcnt, under the GIL
    _pinned = True
    return True
