"""Property-based bad input over the CLI and the settings file: a clear line, nothing written.

The broker is pointed at a closed port, so even input that happens to be valid cannot start
anything: every run must end with exit code 1 (refused by the broker) or 2 (refused by the
validation), one line on stderr, no traceback, and no worker record or batch written.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pooldesk.backend import settings as settings_mod
from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.cli import main

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30)
number_like = st.one_of(text, st.integers(-10, 20_000).map(str), st.floats(allow_nan=True).map(str))


@pytest.fixture
def offline(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("POOLDESK_BROKER_URL", f"redis://:pw@127.0.0.1:{port}/0")
    return home


def _check(capsys: pytest.CaptureFixture[str], argv: list[str], home: Path) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's exit 2
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code in (1, 2), (argv, code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, (argv, err)
    assert "Traceback" not in err
    workers = home / "workers"
    assert not workers.exists() or not any(workers.iterdir())
    assert not (home / "broker" / "broker.json").exists()


@SETTINGS
@given(name=text, pool=text, conc=number_like, queues=text, autoscale=st.none() | text)
def test_worker_start_flags(offline: Path, capsys, name, pool, conc, queues, autoscale) -> None:  # type: ignore[no-untyped-def]
    argv = ["worker", "start", name, "--pool", pool, "--concurrency", conc, "--queues", queues]
    if autoscale is not None:
        argv += ["--autoscale", autoscale]
    _check(capsys, argv, offline)


@SETTINGS
@given(customers=number_like, period=text, chunk=number_like, queue=text)
def test_invoice_batch_flags(offline: Path, capsys, customers, period, chunk, queue) -> None:  # type: ignore[no-untyped-def]
    argv = [
        "batch",
        "invoices",
        "--customers",
        customers,
        "--period",
        period,
        "--chunk-size",
        chunk,
        "--queue",
        queue,
    ]
    _check(capsys, argv, offline)
    assert not (offline / "history.db").exists() or _history_empty(offline)


@SETTINGS
@given(lines=st.lists(text, min_size=0, max_size=8), timeout=number_like)
def test_url_files(offline: Path, capsys, lines, timeout, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("urls") / "urls.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    _check(capsys, ["batch", "monitor", "--urls", str(path), "--timeout", timeout], offline)
    assert not (offline / "history.db").exists() or _history_empty(offline)


def _history_empty(home: Path) -> bool:
    import sqlite3

    with sqlite3.connect(home / "history.db") as conn:
        return conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.dictionaries(
            st.sampled_from(
                [
                    "broker_url",
                    "result_backend",
                    "invoice_db",
                    "sampling_interval",
                    "stop_timeout",
                    "start_timeout",
                    "visibility_timeout",
                    "advisor",
                    "presets",
                    "version",
                ]
            ),
            json_values,
            max_size=4,
        ),
        json_values,
        text,
    )
)
def test_any_settings_file_loads_or_is_set_aside(home: Path, data: object) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "settings.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    loaded = settings_mod.load()
    assert isinstance(loaded.settings, settings_mod.Settings)
    if loaded.message:  # refused: kept aside, defaults in use, the file gone
        assert loaded.settings == settings_mod.Settings() and not path.exists()
    else:
        assert loaded.settings.validate() == []
        Thresholds.from_settings(loaded.settings.advisor)  # what the advisor does with it
    for backup in home.glob("settings.json.corrupt-*"):
        backup.unlink()
