"""Write ``packaging/requirements-bundle.txt``: every package the bundle ships, pinned with hashes.

Why: ``make package`` used to build from whatever the dev venv held, so two builds of the same
commit could ship different Celery or Qt. The lock pins the whole resolved set (dependencies
of ``pyproject.toml`` + the ``postgres`` extra + PyInstaller itself) for the build platform,
with the wheel hashes pip reported, and the Makefile builds the bundle in a fresh venv with
``pip install --require-hashes``. Regenerate with ``make lock`` after changing dependencies;
``tests/unit/test_packaging.py`` checks the lock still satisfies ``pyproject.toml``.

Usage: ``python packaging/lock.py [--python-version 3.11] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYINSTALLER = "pyinstaller==6.22.3"  # pinned: a PyInstaller upgrade is a deliberate change
LOCK = ROOT / "packaging" / "requirements-bundle.txt"


def declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["postgres"]]


def resolve(python_version: str) -> list[dict[str, object]]:
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--only-binary=:all:",
            f"--python-version={python_version}",
            "--target=/tmp/pooldesk-lock",
            "--report=-",
            *declared(),
            PYINSTALLER,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return list(json.loads(report.stdout)["install"])


def render(items: list[dict[str, object]], python_version: str) -> str:
    lines = [
        "# The PyInstaller bundle's exact packages (packaging/lock.py; make lock).",
        f"# Resolved for CPython {python_version} on this platform, wheels only, with hashes.",
    ]
    for item in sorted(items, key=lambda i: str(i["metadata"]["name"]).lower()):  # type: ignore[index]
        meta, info = item["metadata"], item["download_info"]
        hashes = info.get("archive_info", {}).get("hashes", {})  # type: ignore[union-attr]
        line = f"{meta['name']}=={meta['version']}"  # type: ignore[index]
        if "sha256" in hashes:
            line += f" \\\n    --hash=sha256:{hashes['sha256']}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", default=f"{sys.version_info[0]}.{sys.version_info[1]}")
    parser.add_argument("--out", type=Path, default=LOCK)
    args = parser.parse_args()
    args.out.write_text(render(resolve(args.python_version), args.python_version), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
