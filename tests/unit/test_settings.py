"""Settings: env wins over the file; a corrupt file is kept aside and never stops start-up."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pooldesk.backend import settings


def test_defaults_when_no_file(home: Path) -> None:
    loaded = settings.load()
    assert loaded.message is None
    assert loaded.settings.broker_url is None
    assert loaded.settings.sampling_interval == 1.0


def test_save_and_load_round_trip_with_private_mode(home: Path) -> None:
    cfg = settings.Settings(broker_url="redis://:pw@10.0.0.5:6379/0", sampling_interval=2.5)
    path = settings.save(cfg)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = settings.load().settings
    assert loaded.broker_url == "redis://:pw@10.0.0.5:6379/0"
    assert loaded.sampling_interval == 2.5


def test_environment_overrides_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.save(settings.Settings(broker_url="redis://file-host:6379/0"))
    monkeypatch.setenv("POOLDESK_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    assert settings.load().settings.broker_url == "amqp://guest:guest@127.0.0.1:5672//"


@pytest.mark.parametrize(
    "content",
    [
        '{"broker_url": ',
        "[1, 2]",
        '{"sampling_interval": "fast"}',
        '{"broker_url": "http://x"}',
        '{"advisor": 5}',
        '{"advisor": {"lag_ms": "high"}}',
        '{"advisor": {"queue_nature": {"q": "gpu"}}}',
        '{"presets": {"a": 1}}',
        '{"worker_nice": 25}',
        '{"worker_nice": "low"}',
        "\udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
    ],
)
def test_corrupt_file_is_backed_up_and_replaced_by_defaults(home: Path, content: str) -> None:
    path = home / "settings.json"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="latin-1")
    loaded = settings.load()
    assert loaded.settings == settings.Settings()
    assert loaded.message and "kept as settings.json.corrupt-" in loaded.message
    backups = list(home.glob("settings.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="latin-1") == content
    assert not path.exists()


def test_save_refuses_invalid_settings_and_writes_nothing(home: Path) -> None:
    with pytest.raises(ValueError, match="sampling_interval"):
        settings.save(settings.Settings(sampling_interval=0))
    assert not (home / "settings.json").exists()
    assert json.loads(json.dumps(settings.Settings().__dict__))  # JSON-serialisable defaults
