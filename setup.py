"""The package list for the ``pooldesk`` namespace (pyproject.toml holds everything else).

pyproject's ``package-dir`` maps ``pooldesk.backend`` → ``backend/`` and so on, but
``packages.find`` cannot add the ``pooldesk.`` prefix to what it finds, so the subpackages are
listed here from the folders themselves: a new subpackage needs no edit anywhere.
"""

from setuptools import find_packages, setup

ROOTS = ("backend", "desktop")

setup(
    packages=[
        *(f"pooldesk.{name}" for name in find_packages(include=[f"{root}*" for root in ROOTS])),
        "pooldesk.resources",
    ]
)
