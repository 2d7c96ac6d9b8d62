"""The fleet key file: made 0600, refused when others can read it, found where configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pooldesk.backend.fleet.key import (
    KEY_ENV,
    NO_KEY,
    FleetKeyError,
    init_key,
    load_key,
    read_key,
)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_init_writes_32_random_bytes_hex_mode_0600(tmp_path: Path) -> None:
    os.umask(0o022)
    path = init_key(tmp_path / "k")
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(read_key(path)) == 32
    assert read_key(path) != read_key(init_key(tmp_path / "k2"))


def test_init_never_overwrites(tmp_path: Path) -> None:
    path = init_key(tmp_path / "k")
    before = path.read_text()
    with pytest.raises(FleetKeyError, match="already exists"):
        init_key(path)
    assert path.read_text() == before


def test_init_default_path_is_in_the_home_and_is_then_found(tmp_path: Path) -> None:
    assert load_key() is None
    path = init_key()
    assert path == tmp_path / "home" / "fleet.key"
    assert load_key() == read_key(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_others_can_read_is_refused_clearly(tmp_path: Path, mode: int) -> None:
    path = init_key(tmp_path / "k")
    path.chmod(mode)
    with pytest.raises(FleetKeyError, match=f"mode {mode:04o}.*chmod 600"):
        read_key(path)


def test_env_wins_over_setting_and_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = init_key(tmp_path / "a"), init_key(tmp_path / "b")
    assert load_key(str(b)) == read_key(b)
    monkeypatch.setenv(KEY_ENV, str(a))
    assert load_key(str(b)) == read_key(a)
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "nope"))
    with pytest.raises(FleetKeyError, match="does not exist"):
        load_key()


def test_garbage_or_short_keys_are_refused(tmp_path: Path) -> None:
    for text in ("not hex", "abcd"):
        path = tmp_path / f"k{len(text)}"
        path.write_text(text)
        path.chmod(0o600)
        with pytest.raises(FleetKeyError):
            read_key(path)


def test_the_no_key_message_says_watch_but_not_command() -> None:
    assert "can watch" in NO_KEY and "not command" in NO_KEY
