"""The versions a bug report needs (About box, ``pooldesk version``), read without importing.

``importlib.metadata`` reads the installed distributions' metadata, so asking for Celery's
version does not import Celery (a second of start-up) just to show a dialog.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from pooldesk.backend import __version__

DISTRIBUTIONS = ("celery", "kombu", "gevent", "redis", "psutil", "PySide6-Essentials")


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """``{"Pooldesk": "0.1.0", "celery": "5.6.0", …, "Python": "3.11.7 (CPython)", "OS": …}``."""
    out = {"Pooldesk": __version__}
    out.update({name: _installed(name) for name in DISTRIBUTIONS})
    out["Python"] = f"{platform.python_version()} ({platform.python_implementation()})"
    out["OS"] = f"{platform.system()} {platform.release()} ({platform.machine()})"
    if getattr(sys, "frozen", False):
        out["build"] = "standalone bundle"
    return out
