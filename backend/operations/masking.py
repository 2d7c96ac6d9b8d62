"""Secrets out of every text an operation returns: one place for what counts as a secret.

An outcome's sentence may quote a broker URL, a project check's error (which can echo the
project's environment) or a worker's log lines; it goes to the status bar, the CLI's output and
``--json``, and over the broker to a panel. So every text and log line an :class:`Operations`
returns passes :func:`mask`: URL passwords (``mask_url``), the broker's password, and every value
of the worker's project environment (``projects.runenv.secrets``).
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from pooldesk.backend.redact import mask_text


def url_password(url: str | None) -> str:
    with contextlib.suppress(ValueError):
        return urlsplit(url or "").password or ""
    return ""


def project_secrets(project: str | None) -> list[str]:
    """The values of a saved project's environment (none for the demo or a missing project)."""
    if not project:
        return []
    try:
        from pooldesk.backend.projects.runenv import secrets
        from pooldesk.backend.projects.store import ProjectStore

        saved = ProjectStore().load(project)
    except Exception:  # an unreadable project file: nothing known to mask beyond URLs
        return []
    return secrets(saved) if saved else []


def secrets_for(project: str | None = None, *broker_urls: str | None) -> list[str]:
    return [s for s in (*map(url_password, broker_urls), *project_secrets(project)) if s]


def mask(text: str, secrets: list[str]) -> str:
    return mask_text(text, [s for s in secrets if s])


def mask_lines(lines: list[str], secrets: list[str]) -> list[str]:
    return [mask(line, secrets) for line in lines]
