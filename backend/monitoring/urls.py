"""Validation and parsing of the URL lists that feed the monitoring workload.

A monitoring run fans one list out into many Celery tasks, so a bad line found half-way through
would leave a run partly launched. Everything here therefore validates the *whole* list up front
and reports every problem at once, with line numbers an ops person can find in their editor.

Decisions (the UI and CLI rely on them):

* Only ``http`` and ``https`` URLs with a host are accepted. Other schemes (``ftp:``, ``file:``,
  ``javascript:``, ``gopher:``...) are refused: the checker speaks HTTP only, and ``file:`` would
  let a list read the worker's disk.
* **Credentials in URLs are refused** (``https://user:secret@host/``). The URL list travels
  through the broker, task results, logs and the UI tables; a password in it would leak into all
  of them. Endpoints that need authentication need a real secrets mechanism, not this.
* Scheme and host are lower-cased (they are case-insensitive); path, query and fragment are
  kept exactly as written.
* **Duplicates are dropped**, keeping the first occurrence and its position, and reported in
  :attr:`UrlList.duplicates` so the UI/CLI can say "2 duplicate lines ignored". Checking the same
  URL twice in one run only skews the statistics and doubles the load on that server.
* Limits: a URL is at most 2,048 characters, a list at most 100,000 URLs, a file at most 10 MB.
"""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pooldesk.backend.units import MiB

ALLOWED_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2048
MAX_URLS = 100_000
MAX_FILE_BYTES = 10 * MiB
#: How many problems an error message lists before summarising the rest.
MAX_LISTED_PROBLEMS = 20

# A trailing comment needs whitespace before the ``#``: ``http://x/#frag`` is a fragment.
_TRAILING_COMMENT = re.compile(r"\s#")
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
_CREDENTIALS = re.compile(r"(//[^/?#@]*?:)[^/?#]*@")


@dataclass(frozen=True)
class UrlList:
    """A validated URL list: what to check, plus what was dropped as a duplicate.

    ``duplicates`` holds ``(line_number, url, first_line_number)`` for every dropped line.
    """

    urls: list[str]
    duplicates: list[tuple[int, str, int]] = field(default_factory=list)

    def duplicate_note(self) -> str | None:
        """A one-line note for the UI/CLI, or ``None`` when nothing was dropped."""
        if not self.duplicates:
            return None
        n = len(self.duplicates)
        first = self.duplicates[0]
        return (
            f"{n} duplicate URL{'s' if n != 1 else ''} ignored "
            f"(e.g. line {first[0]} repeats line {first[2]})"
        )


class UrlListError(ValueError):
    """A URL list that must not be launched.

    ``problems`` lists every invalid line as ``(line_number, line_text, reason)``, line numbers
    starting at 1 and ``line_text`` being the line without its comment. It is empty when the
    problem concerns the list as a whole (no URLs at all, too many URLs, an unreadable file).
    """

    def __init__(self, message: str, problems: list[tuple[int, str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems: list[tuple[int, str, str]] = list(problems or [])


class UrlFileError(UrlListError):
    """The URL file itself could not be used (missing, unreadable, binary, too large)."""


def _shorten(text: str, limit: int = 80) -> str:
    """``repr`` of *text*, cut so that a 10 MB line cannot flood a dialog."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def redact_credentials(text: str) -> str:
    """Hide the password of ``scheme://user:password@host`` before a URL is shown anywhere."""
    return _CREDENTIALS.sub(r"\1***@", text)


def _bad_character(text: str) -> tuple[int, str] | None:
    """The first whitespace/control/invisible character, which never belongs in a URL."""
    for index, char in enumerate(text):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            return index, char
    return None


def _check_host(hostname: str, netloc: str) -> None:
    if netloc.startswith("[") or ":" in hostname:
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            raise ValueError(f"{hostname!r} is not a valid IPv6 address") from None
        return
    try:
        encoded = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{hostname!r} is not a valid host name") from None
    if not _HOST_CHARS.fullmatch(encoded) or encoded.startswith("."):
        raise ValueError(f"{hostname!r} is not a valid host name")
    if len(encoded.rstrip(".")) > 253:
        raise ValueError("host name is longer than 253 characters")


def validate_url(url: str) -> str:
    """Return *url* stripped and with scheme and host lower-cased, or raise ``ValueError``.

    The message names the problem in words an ops person can act on; it never echoes a password
    (URLs with credentials are refused before anything else is said about them).
    """
    if not isinstance(url, str):
        raise TypeError(f"URL must be a str, not {type(url).__name__}")
    text = url.strip()
    if not text:
        raise ValueError("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise ValueError(f"URL is {len(text):,} characters long; the limit is {MAX_URL_LENGTH:,}")
    bad = _bad_character(text)
    if bad is not None:
        index, char = bad
        if char.isspace():
            what = "whitespace"
        elif unicodedata.category(char) == "Cf":
            what = "an invisible character"
        else:
            what = "a control character"
        raise ValueError(
            f"contains {what} ({char!r} at position {index + 1}); put one URL per line "
            "and start comments with ' #'"
        )
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unclosed '[' in an IPv6 host
        raise ValueError(f"cannot be parsed as a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        if scheme and "://" in text:
            raise ValueError(f"only http and https URLs are accepted (got {scheme}://)")
        # 'localhost:8000' and 'example.com:80' parse as schemes; they are missing prefixes.
        if scheme and "." not in scheme and not parts.path.isdigit():
            raise ValueError(f"only http and https URLs are accepted (got {scheme}:)")
        raise ValueError("only http and https URLs are accepted (missing 'http://' or 'https://')")
    if not text[len(scheme) + 1 :].startswith("//") or not parts.netloc:
        raise ValueError("missing host (expected http://host/...)")
    if "@" in parts.netloc:
        raise ValueError(
            "credentials in URLs are not accepted (they would end up in the broker, logs and UI)"
        )
    hostname = parts.hostname or ""
    if not hostname:
        raise ValueError("missing host (expected http://host/...)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in {parts.netloc!r}") from None
    if port == 0:
        raise ValueError("port 0 is not a valid port")
    _check_host(hostname, parts.netloc)
    prefix_len = len(scheme) + 3 + len(parts.netloc)
    return f"{scheme}://{parts.netloc.lower()}{text[prefix_len:]}"


def _strip_comment(line: str) -> str:
    stripped = line.strip()
    if stripped.startswith("#"):
        return ""
    match = _TRAILING_COMMENT.search(stripped)
    if match is not None:
        stripped = stripped[: match.start()]
    return stripped.strip()


def _format_problems(problems: list[tuple[int, str, str]]) -> str:
    n = len(problems)
    lines = [f"{n} invalid line{'s' if n != 1 else ''} in the URL list; nothing was launched:"]
    for number, text, reason in problems[:MAX_LISTED_PROBLEMS]:
        lines.append(f"line {number}: {_shorten(text)} — {reason}")
    if n > MAX_LISTED_PROBLEMS:
        lines.append(f"... and {n - MAX_LISTED_PROBLEMS:,} more")
    return "\n".join(lines)


def parse_url_list(text: str) -> UrlList:
    """Parse a text area or file body: one URL per line, ``#`` comments, duplicates dropped.

    Blank lines, full-line comments and trailing comments (whitespace then ``#``) are ignored.
    Raises :class:`UrlListError` listing *all* invalid lines, or when no URL is left, or when
    there are more than :data:`MAX_URLS` distinct URLs.
    """
    # Universal newlines, like a text-mode file, so line numbers match what editors show.
    body = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    problems: list[tuple[int, str, str]] = []
    urls: list[str] = []
    first_seen: dict[str, int] = {}
    duplicates: list[tuple[int, str, int]] = []
    for number, raw in enumerate(body.split("\n"), start=1):
        candidate = _strip_comment(raw)
        if not candidate:
            continue
        try:
            url = validate_url(candidate)
        except ValueError as exc:
            problems.append((number, redact_credentials(candidate), str(exc)))
            continue
        if url in first_seen:
            duplicates.append((number, url, first_seen[url]))
            continue
        first_seen[url] = number
        urls.append(url)
    if problems:
        raise UrlListError(_format_problems(problems), problems)
    if not urls:
        raise UrlListError("the URL list is empty: it has no URLs, only blank lines or comments")
    if len(urls) > MAX_URLS:
        raise UrlListError(
            f"the URL list has {len(urls):,} distinct URLs; the limit is {MAX_URLS:,} per run"
        )
    return UrlList(urls=urls, duplicates=duplicates)


def parse_url_lines(text: str) -> list[str]:
    """The URLs of :func:`parse_url_list`, for callers that do not report duplicates."""
    return parse_url_list(text).urls


def _read_text(path: str | os.PathLike[str]) -> str:
    """Read a URL file as UTF-8 text, turning every way it can fail into :class:`UrlFileError`."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise UrlFileError(f"{p}: is a folder, not a URL file")
        if size > MAX_FILE_BYTES:
            raise UrlFileError(
                f"{p}: file is {size / 1e6:.1f} MB; the limit for a URL file is "
                f"{MAX_FILE_BYTES // MiB} MB"
            )
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # the file may grow after stat()
    except FileNotFoundError:
        raise UrlFileError(f"{p}: no such file") from None
    except PermissionError:
        raise UrlFileError(f"{p}: permission denied") from None
    except OSError as exc:
        raise UrlFileError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UrlFileError(f"{p}: file is larger than {MAX_FILE_BYTES // MiB} MB")
    if b"\x00" in data:
        raise UrlFileError(f"{p}: looks like a binary file, not a text file of URLs")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UrlFileError(
            f"{p}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_url_list(path: str | os.PathLike[str]) -> UrlList:
    """:func:`parse_url_list` for a file; file-level failures raise :class:`UrlFileError`.

    Line problems raise :class:`UrlListError` whose message starts with the file name.
    """
    text = _read_text(path)
    try:
        return parse_url_list(text)
    except UrlListError as exc:
        raise UrlListError(f"{Path(path)}: {exc}", exc.problems) from None


def parse_url_file(path: str | os.PathLike[str]) -> list[str]:
    """The URLs of :func:`read_url_list`, for callers that do not report duplicates."""
    return read_url_list(path).urls
