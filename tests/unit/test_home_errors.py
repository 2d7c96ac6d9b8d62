"""An unusable ``POOLDESK_HOME`` is one plain line (backend/paths.py ``HomeError``, caught by
``cli.main``), never ``unexpected error: FileExistsError``. The read-only case needs a read-only
mount to be honest as root: tests/integration/test_faults_stores.py runs it in a user mount
namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from pooldesk.backend import paths
from pooldesk.backend.cli import main


def test_a_home_that_is_a_file_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "home"
    afile.write_text("x")
    monkeypatch.setenv("POOLDESK_HOME", str(afile))
    with pytest.raises(paths.HomeError) as caught:
        paths.home()
    assert caught.value.code == 2 and "is not a folder" in str(caught.value)
    assert main(["batch", "list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "POOLDESK_HOME" in err[0] and "unexpected" not in err[0]


def test_a_file_in_the_way_of_a_data_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "workers").write_text("not a folder")
    monkeypatch.setenv("POOLDESK_HOME", str(home))
    assert main(["worker", "list"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "workers is not a folder" in err[0], err
