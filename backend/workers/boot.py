"""Entry point of a worker process: ``python -m backend.workers.boot <celery args>``.

Going through our own module instead of the ``celery`` script means the worker runs with the
same interpreter as Pooldesk (a venv or a frozen bundle, where no ``celery`` script exists) and
gives Pooldesk one place to install its in-worker probes before Celery starts.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from celery.__main__ import main as celery_main

    from backend.workers.probe import install

    install()

    sys.argv = ["celery", *(argv if argv is not None else sys.argv[1:])]
    celery_main()


if __name__ == "__main__":
    main()
