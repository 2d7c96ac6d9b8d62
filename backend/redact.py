"""Keep secrets out of screens, logs and ``--json`` output."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<pw>[^@/]*)@", re.I)


def mask_url(url: str | None) -> str | None:
    """``redis://:secret@host/0`` → ``redis://:****@host/0``; URLs without a password unchanged."""
    if url is None:
        return None
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:****@" if m["pw"] else m[0], url)


def mask_text(text: str, secrets: list[str]) -> str:
    """Replace every known secret (e.g. the managed broker's password) inside free text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    return mask_url(text) or text
