"""Dotenv files (``KEY=value`` lines), parsed strictly so a typo is named by its line number.

Values are secrets as far as Pooldesk is concerned: no message here ever quotes one, and callers
mask them (``pooldesk.backend.redact.mask_text``) in anything else they print or log.
"""

from __future__ import annotations

import re
from pathlib import Path

from pooldesk.backend.units import KiB, MiB

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnvFileError(ValueError):
    """``env file /x/.env, line 3: …``; never contains a value."""


def parse_text(text: str, source: str = "env file") -> dict[str, str]:
    """``KEY=value`` per line; ``export KEY=value``, ``#`` comments, blank lines and single- or
    double-quoted values (``\\n``/``\\"`` escapes in double quotes) as Docker Compose and
    python-dotenv read them. Anything else is refused with its line number."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            raise EnvFileError(f"{source}, line {number}: expected KEY=value")
        if not KEY_RE.match(key):
            raise EnvFileError(
                f"{source}, line {number}: {key[:40]!r} is not a variable name "
                "(letters, digits and '_', not starting with a digit)"
            )
        out[key] = _value(value.strip(), source, number)
    return out


def _value(value: str, source: str, number: int) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = _closing(value, quote)
        if end < 0:
            raise EnvFileError(f"{source}, line {number}: the quoted value is not closed")
        rest = value[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise EnvFileError(f"{source}, line {number}: text after the closing quote")
        inner = value[1:end]
        if quote == '"':
            inner = inner.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        return inner
    if " #" in value:  # an inline comment after an unquoted value
        value = value.split(" #", 1)[0].rstrip()
    return value


def _closing(value: str, quote: str) -> int:
    i = 1
    while i < len(value):
        if value[i] == "\\" and quote == '"':
            i += 2
            continue
        if value[i] == quote:
            return i
        i += 1
    return -1


# Linux passes a process at most ARG_MAX (a quarter of the stack limit: 2 MiB by default) of
# arguments and environment together, and each single string at most MAX_ARG_STRLEN (128 KiB);
# past either, exec fails with E2BIG, which used to be reported as "cannot run <interpreter>
# (Argument list too long)" — blaming the interpreter for the env file. Checked up front.
ENV_FILE_MAX_BYTES = MiB
ENV_VALUE_MAX_BYTES = 128 * KiB - 1


def check_size(env: dict[str, str], source: str) -> None:
    """One line naming ``source`` if ``env`` cannot be passed to a process."""
    for key, value in env.items():
        size = len(key.encode()) + len(value.encode()) + 1
        if size > ENV_VALUE_MAX_BYTES:
            raise EnvFileError(
                f"{source}: {key} is {size / KiB:.0f} KiB; a process's environment takes at "
                f"most {ENV_VALUE_MAX_BYTES // KiB} KiB per variable"
            )
    total = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in env.items())
    if total > ENV_FILE_MAX_BYTES:
        raise EnvFileError(
            f"{source}: {total / MiB:.1f} MiB of variables; a process's environment "
            f"takes at most {ENV_FILE_MAX_BYTES // MiB} MiB"
        )


def parse_file(path: Path) -> dict[str, str]:
    try:
        size = path.stat().st_size
        if size > ENV_FILE_MAX_BYTES:
            raise EnvFileError(
                f"env file {path}: {size / MiB:.1f} MiB is more than the "
                f"{ENV_FILE_MAX_BYTES // MiB} MiB a process's environment can hold"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(f"env file {path}: no such file") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"env file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise EnvFileError(f"env file {path}: {exc.strerror}") from None
    env = parse_text(text, f"env file {path}")
    check_size(env, f"env file {path}")
    return env


def parse_pairs(pairs: list[str], each: str = "--env") -> dict[str, str]:
    """``--env K=V`` flags (``each``: how one is named in the message, "line" in the window,
    which has no flags); the message names the key, never the value."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not KEY_RE.match(key):
            raise EnvFileError(f"{each} {key[:40]!r}: give KEY=value with a variable name as KEY")
        out[key] = value
    return out
