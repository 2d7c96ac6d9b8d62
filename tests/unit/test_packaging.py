"""Fast checks of packaging/ (no PyInstaller build: ``make package-smoke`` does that)."""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

from pooldesk.backend import __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
ENTRY = PACKAGING / "entry.py"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(PACKAGING / "pooldesk.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_file_has_the_required_keys() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Pooldesk"
    assert entry["Comment"]
    assert entry["Terminal"] == "false"
    categories = entry["Categories"].split(";")
    assert entry["Categories"].endswith(";")
    assert {"Development", "System", "Monitor"} <= set(categories)


def test_desktop_exec_and_icon_match_the_bundle() -> None:
    entry = _desktop_entry()
    assert entry["Exec"].split()[0] == "pooldesk"  # the bundle's executable name
    assert entry["Icon"] == "pooldesk"  # installed from resources/pooldesk.svg
    assert (ROOT / "resources" / f"{entry['Icon']}.svg").is_file()


def test_spec_parses_and_names_an_existing_entry_script() -> None:
    source = (PACKAGING / "pooldesk.spec").read_text(encoding="utf-8")
    ast.parse(source)
    assert '"entry.py"' in source
    assert ENTRY.is_file()
    assert 'name="pooldesk"' in source
    assert "BUNDLE_DIR, wheel_valkey_server" in source  # the embedded broker's binary ships


def _entry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ENTRY), *args], capture_output=True, text=True, timeout=60
    )


def test_entry_runs_the_cli() -> None:
    result = _entry("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_entry_dispatches_to_the_supervisor() -> None:
    result = _entry("-m", "pooldesk.backend.workers.supervise")
    assert result.returncode == 2
    assert "usage: python -m pooldesk.backend.workers.supervise" in result.stderr


def test_entry_dispatches_to_the_in_worker_probe() -> None:
    result = _entry("-m", "_pooldesk_probe", "--version")  # celery's own --version
    assert result.returncode == 0
    assert result.stdout.strip()[0].isdigit()
    assert "pooldesk" not in result.stdout


def test_entry_dispatches_to_the_project_check() -> None:
    result = _entry("-m", "_pooldesk_check", "pooldesk.backend.celery_app:app")
    assert result.returncode == 0
    marker = [line for line in result.stdout.splitlines() if line.startswith("@@pooldesk-check@@")]
    assert marker and '"pooldesk.noop"' in marker[0]


def test_entry_dispatches_to_the_config_reader() -> None:
    """``pooldesk audit`` of the demo in a frozen build: ``-m _pooldesk_config`` must run."""
    result = _entry("-m", "_pooldesk_config", "pooldesk.backend.celery_app:app")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    marker = [line for line in lines if line.startswith("@@pooldesk-config@@")]
    assert marker and '"task_acks_late"' in marker[0]


def test_spec_ships_the_in_worker_modules_as_files() -> None:
    """A project's worker runs the user's interpreter: it cannot import from the bundle's
    archive, so the stand-alone modules must travel as plain .py files."""
    source = (PACKAGING / "pooldesk.spec").read_text(encoding="utf-8")
    assert '"pooldesk/backend/workers/inworker"' in source and 'glob("*.py")' in source


def test_entry_refuses_other_modules() -> None:
    result = _entry("-m", "os")
    assert result.returncode == 2
    assert "not a module this executable runs" in result.stderr


def test_install_desktop_puts_a_menu_entry_pointing_at_the_gui_script(tmp_path: Path) -> None:
    """``make install-desktop``: the .desktop file and icon, Exec = this venv's pooldesk-gui."""
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [
            "make",
            "-s",
            "-o",
            ".venv/.installed",
            "install-desktop",
            f"XDG_DATA_HOME={tmp_path}",
            f"BIN={bin_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    entry = (tmp_path / "applications" / "pooldesk.desktop").read_text(encoding="utf-8")
    assert f"Exec={bin_dir}/pooldesk-gui\n" in entry
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "pooldesk.svg").is_file()
    assert (bin_dir / "pooldesk-gui").is_file()  # [project.gui-scripts] installed it


def test_the_bundle_lock_pins_every_declared_dependency_with_a_hash() -> None:
    """packaging/requirements-bundle.txt (make lock) still satisfies pyproject.toml."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock_text = (PACKAGING / "requirements-bundle.txt").read_text(encoding="utf-8")
    entries = lock_text.replace("\\\n", " ").splitlines()
    pins: dict[str, str] = {}
    for line in entries:
        if line.strip() and not line.startswith("#"):
            spec, _, hashes = line.partition(" ")
            name, _, version = spec.partition("==")
            assert version and "--hash=sha256:" in hashes, f"not pinned with a hash: {line}"
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for text in [*project["dependencies"], *project["optional-dependencies"]["postgres"]]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared but not in the bundle lock (run make lock)"
        assert requirement.specifier.contains(pins[name]), f"lock has {name}=={pins[name]}"
    assert "pyinstaller" in pins  # the build tool is pinned too


def test_the_wheel_installs_everything_under_one_pooldesk_namespace(tmp_path: Path) -> None:
    """A packager (Debian, Fedora, conda) rejects a wheel that puts ``backend`` or ``desktop``
    at the top of site-packages; the icons and styles must travel inside the package where
    importlib.resources finds them."""
    import zipfile

    root = PACKAGING.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("pooldesk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"pooldesk", f"pooldesk-{__version__}.dist-info"}, top
    for wanted in (
        "pooldesk/backend/cli/__init__.py",
        "pooldesk/desktop/app.py",
        "pooldesk/resources/style.qss",
        "pooldesk/resources/pooldesk.svg",
        "pooldesk/backend/workers/inworker/_pooldesk_probe.py",
    ):
        assert wanted in names, wanted
    entry_points = zipfile.ZipFile(wheel).read(f"pooldesk-{__version__}.dist-info/entry_points.txt")
    assert b"pooldesk = pooldesk.backend.cli:entry" in entry_points
    assert b"pooldesk-gui = pooldesk.backend.cli:gui_entry" in entry_points
