"""URL list validation: nothing may be launched until the whole list is valid.

Property tests drive arbitrary text through the parser (it must either return valid URLs or raise
``UrlListError`` with in-range line numbers, never anything else) and structured lists whose
invalid lines are known in advance (the error must name exactly those lines).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pooldesk.backend.monitoring import urls
from pooldesk.backend.monitoring.urls import (
    UrlFileError,
    UrlListError,
    parse_url_file,
    parse_url_lines,
    parse_url_list,
    read_url_list,
    validate_url,
)

# --- validate_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com", "http://example.com"),
        ("  https://example.com/path?q=1#frag \n", "https://example.com/path?q=1#frag"),
        ("HTTPS://Example.COM/CasePath", "https://example.com/CasePath"),
        ("http://127.0.0.1:8080/health", "http://127.0.0.1:8080/health"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
        ("https://bücher.example/", "https://bücher.example/"),
        ("http://localhost", "http://localhost"),
    ],
)
def test_validate_url_accepts_http_and_https(url: str, expected: str) -> None:
    assert validate_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/file", "only http and https URLs are accepted (got ftp://)"),
        ("file:///etc/passwd", "only http and https URLs are accepted (got file://)"),
        ("javascript:alert(1)", "only http and https URLs are accepted (got javascript:)"),
        ("gopher://example.com", "only http and https URLs are accepted (got gopher://)"),
        ("mailto:ops@example.com", "only http and https URLs are accepted"),
        ("example.com/path", "missing 'http://' or 'https://'"),
        ("localhost:8000", "missing 'http://' or 'https://'"),
        ("", "empty URL"),
        ("   ", "empty URL"),
        ("http://", "missing host"),
        ("http:///path", "missing host"),
        ("http:example.com", "missing host"),
        ("http://exa mple.com/", "contains whitespace"),
        ("http://example.com/a\tb", "contains whitespace"),
        ("http://example.com/\x00", "control character"),
        ("http://exa\u200bmple.com/", "invisible character"),
        ("http://example.com/" + "a" * 2048, "the limit is 2,048"),
        ("http://user:secret@example.com/", "credentials in URLs are not accepted"),
        ("http://user@example.com/", "credentials in URLs are not accepted"),
        ("http://example.com:99999/", "invalid port"),
        ("http://example.com:abc/", "invalid port"),
        ("http://example.com:0/", "port 0"),
        ("http://a..b/", "not a valid host name"),
        ("http://exa%41mple.com/", "not a valid host name"),
        ("http://[::1/", "cannot be parsed"),
        ("http://[zz]/", "cannot be parsed"),
    ],
)
def test_validate_url_rejects_with_a_message_naming_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_url(url)
    assert fragment in str(info.value)


def test_validate_url_never_echoes_a_password() -> None:
    with pytest.raises(ValueError) as info:
        validate_url("https://bob:hunter2@example.com/")
    assert "hunter2" not in str(info.value)


def test_validate_url_length_limit_is_inclusive() -> None:
    url = "http://example.com/" + "a" * (urls.MAX_URL_LENGTH - len("http://example.com/"))
    assert validate_url(url) == url
    with pytest.raises(ValueError):
        validate_url(url + "a")


# --- parse_url_lines -----------------------------------------------------------------------------


def test_comments_blank_lines_and_fragments() -> None:
    text = (
        "# full-line comment\n"
        "\n"
        "https://a.example/  # trailing comment\n"
        "   # indented comment\n"
        "https://b.example/page#section\n"
        "https://c.example/#top # a comment after a fragment\n"
    )
    assert parse_url_lines(text) == [
        "https://a.example/",
        "https://b.example/page#section",
        "https://c.example/#top",
    ]


def test_all_invalid_lines_are_reported_with_correct_line_numbers() -> None:
    text = "https://ok.example/\n# comment\nftp://x\n\njavascript:alert(1)  # evil\nhttp://\n"
    with pytest.raises(UrlListError) as info:
        parse_url_lines(text)
    err = info.value
    assert [(n, line) for n, line, _ in err.problems] == [
        (3, "ftp://x"),
        (5, "javascript:alert(1)"),
        (6, "http://"),
    ]
    message = str(err)
    assert "3 invalid lines" in message
    assert "line 3: 'ftp://x' — only http and https URLs are accepted" in message
    assert "line 5: 'javascript:alert(1)'" in message
    assert "line 6: 'http://' — missing host" in message
    assert isinstance(err, ValueError)


def test_crlf_cr_and_bom_keep_line_numbers_right() -> None:
    with pytest.raises(UrlListError) as info:
        parse_url_lines("\ufeffhttp://a.example\r\nftp://b\r\rftp://c\n")
    assert [n for n, _, _ in info.value.problems] == [2, 4]


def test_only_comments_is_an_error() -> None:
    with pytest.raises(UrlListError, match="empty") as info:
        parse_url_lines("# nothing here\n\n   \n# still nothing\n")
    assert info.value.problems == []
    with pytest.raises(UrlListError, match="empty"):
        parse_url_lines("")


def test_duplicates_are_dropped_and_reported() -> None:
    result = parse_url_list(
        "https://a.example/\nhttps://b.example/\nHTTPS://A.example/\nhttps://a.example/ # again\n"
    )
    assert result.urls == ["https://a.example/", "https://b.example/"]
    assert result.duplicates == [(3, "https://a.example/", 1), (4, "https://a.example/", 1)]
    assert result.duplicate_note() == "2 duplicate URLs ignored (e.g. line 3 repeats line 1)"
    assert parse_url_list("https://a.example/").duplicate_note() is None


def test_credentials_are_redacted_in_problems() -> None:
    with pytest.raises(UrlListError) as info:
        parse_url_lines("https://bob:hunter2@example.com/x\n")
    assert "hunter2" not in str(info.value)
    assert info.value.problems[0][1] == "https://bob:***@example.com/x"


def test_message_lists_a_bounded_number_of_problems() -> None:
    with pytest.raises(UrlListError) as info:
        parse_url_lines("ftp://x\n" * 50)
    assert len(info.value.problems) == 50
    assert "... and 30 more" in str(info.value)
    assert str(info.value).count("\n") == urls.MAX_LISTED_PROBLEMS + 1


def test_too_many_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "MAX_URLS", 3)
    assert len(parse_url_lines("http://a\nhttp://b\nhttp://c\nhttp://a\n")) == 3
    with pytest.raises(UrlListError, match="limit is 3"):
        parse_url_lines("http://a\nhttp://b\nhttp://c\nhttp://d\n")


# --- parse_url_file ------------------------------------------------------------------------------


def test_parse_url_file_reads_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes("\ufeff# list\nhttps://bücher.example/\r\nhttp://b.example\n".encode())
    assert parse_url_file(path) == ["https://bücher.example/", "http://b.example"]
    assert read_url_list(str(path)).urls == ["https://bücher.example/", "http://b.example"]


def test_parse_url_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_text("http://ok.example\nftp://bad\n")
    with pytest.raises(UrlListError) as info:
        parse_url_file(path)
    assert str(info.value).startswith(f"{path}: 1 invalid line")
    assert info.value.problems[0][0] == 2


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"http://a.example\n\x00\x01\x02", "binary"),
        (b"http://a.example\n\xff\xfe", "not UTF-8"),
    ],
)
def test_parse_url_file_refuses_non_text(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "urls.bin"
    path.write_bytes(content)
    with pytest.raises(UrlFileError, match=fragment):
        parse_url_file(path)


def test_parse_url_file_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(UrlFileError, match="no such file"):
        parse_url_file(tmp_path / "nope.txt")
    with pytest.raises(UrlFileError, match="is a folder"):
        parse_url_file(tmp_path)


def test_parse_url_file_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "MAX_FILE_BYTES", 100)
    path = tmp_path / "urls.txt"
    path.write_text("http://a.example/\n" * 10)
    with pytest.raises(UrlFileError, match="limit"):
        parse_url_file(path)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_parse_url_file_unreadable(tmp_path: Path) -> None:
    """Root reads any file, and CI runs as root: there the parse runs in a child that has
    dropped to ``nobody``, so the permission check is exercised everywhere, never skipped."""
    if os.geteuid() == 0:
        _unreadable_as_nobody()
        return
    path = tmp_path / "urls.txt"
    path.write_text("http://a.example/\n")
    path.chmod(0)
    try:
        with pytest.raises(UrlFileError, match="permission denied"):
            parse_url_file(path)
    finally:
        path.chmod(0o600)


def _unreadable_as_nobody() -> None:
    """Fork (the code is already in memory: ``nobody`` could not exec an interpreter under
    root's home), drop to uid/gid 65534 in the child, parse, and report through a pipe."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="pooldesk-unreadable-"))
    folder.chmod(0o711)  # nobody may enter, not list
    path = folder / "urls.txt"
    path.write_text("http://a.example/\n")
    path.chmod(0)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        answer = b"parsed"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            parse_url_file(path)
        except UrlFileError as exc:
            answer = str(exc).encode()
        except BaseException as exc:
            answer = repr(exc).encode()
        os.write(write, answer)
        os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as pipe:
            said = pipe.read().decode()
        os.waitpid(pid, 0)
        assert "permission denied" in said, said
    finally:
        path.chmod(0o600)
        path.unlink()
        folder.rmdir()


# --- properties ----------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# Random text is almost never URL-like; gluing URL fragments together reaches the accepting paths.
_URL_PIECES = [
    "http://", "https://", "HTTP://", "ftp://", "javascript:", "file:///", "//", "a.example",
    "localhost", "127.0.0.1", "[::1]", ":8080", ":0", ":x", "@", "user:pw@", "/", "/path", "?q=1",
    "#", " # c", "#frag", " ", "\t", "\n", "\r\n", "\r", "%41", "..", "[", "]", "bücher", "\x00",
    "\u200b", "\ufeff",
]  # fmt: skip
_urlish = st.lists(st.sampled_from(_URL_PIECES) | st.text(max_size=3), max_size=12).map("".join)
_any_text = st.one_of(
    st.text(),
    _urlish,
    st.tuples(st.sampled_from(["http://a.example", "https://[::1]"]), _urlish).map("".join),
)


@PROPERTY_SETTINGS
@given(_any_text)
def test_validate_url_returns_a_valid_url_or_raises_value_error(text: str) -> None:
    try:
        url = validate_url(text)
    except ValueError as exc:
        event("rejected")
        assert str(exc)
        return
    event("accepted")
    assert url.startswith(("http://", "https://"))
    assert validate_url(url) == url  # idempotent: a stored URL re-validates unchanged


@PROPERTY_SETTINGS
@given(_any_text)
def test_any_text_parses_or_raises_url_list_error_with_lines_in_range(text: str) -> None:
    max_line = text.count("\n") + text.count("\r") + 1
    try:
        result = parse_url_lines(text)
    except UrlListError as exc:
        event("rejected")
        for number, _line, reason in exc.problems:
            assert 1 <= number <= max_line
            assert reason
        return
    event("accepted")
    assert result
    assert len(result) == len(set(result))
    for url in result:
        assert validate_url(url) == url


_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,12}(\.[a-z]{2,6}){0,2}", fullmatch=True)
_paths = st.from_regex(r"(/[A-Za-z0-9._~%-]{0,10}){0,3}(\?[a-z]=[0-9]{1,3})?", fullmatch=True)
_valid_lines = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https", "HTTP"]),
    _hosts,
    _paths,
    st.sampled_from(["", "  # a comment", "\t#x"]),
)
_invalid_lines = st.one_of(
    st.builds("ftp://{}/".format, _hosts),
    st.builds("file:///{}".format, _hosts),
    st.builds("javascript:alert('{}')".format, _hosts),
    st.builds("https://user:pw@{}/".format, _hosts),
    st.builds("http://{} {}".format, _hosts, _hosts),
    st.just("http://"),
    st.builds("{}/index.html".format, _hosts),
)
_ignored_lines = st.sampled_from(["", "   ", "# comment", "  # indented comment", "#"])


_tagged_lines = st.one_of(
    _valid_lines.map(lambda line: ("valid", line)),
    _invalid_lines.map(lambda line: ("invalid", line)),
    _ignored_lines.map(lambda line: ("ignored", line)),
)


@settings(PROPERTY_SETTINGS, max_examples=250)
@given(st.lists(_tagged_lines, max_size=30))
def test_structured_lists_report_exactly_the_invalid_lines(items: list[tuple[str, str]]) -> None:
    expected_bad = [n for n, (kind, _) in enumerate(items, start=1) if kind == "invalid"]
    expected_urls: list[str] = []
    for kind, line in items:
        if kind == "valid":
            url = validate_url(line.split("#")[0])
            if url not in expected_urls:
                expected_urls.append(url)
    text = "\n".join(line for _, line in items)
    if expected_bad or not expected_urls:
        with pytest.raises(UrlListError) as info:
            parse_url_lines(text)
        assert [n for n, _, _ in info.value.problems] == expected_bad
    else:
        assert parse_url_lines(text) == expected_urls
