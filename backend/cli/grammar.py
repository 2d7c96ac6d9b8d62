"""The grammar's building blocks, shared by every sub-command group: the parser class (one
clear line on stderr and exit code 2 for a bad flag; the ``--`` pass-through), the value types
and the lazy handler.

Why a module of their own: ``parser.py`` assembles the groups and each group module needs these;
kept in ``parser.py`` they would make every group import its own assembler (an import cycle).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pooldesk.backend.cli import helptext


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", helptext.HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Everything after ``--`` is the worker options pass-through (``worker start|restart``);
        split here because argparse's subparsers do not hand ``--`` on to a positional."""
        argv = list(sys.argv[1:] if args is None else args)
        tail: list[str] | None = None
        if "--" in argv:
            cut = argv.index("--")
            argv, tail = argv[:cut], argv[cut + 1 :]
        parsed = super().parse_args(argv, namespace)
        if tail is not None:
            if not hasattr(parsed, "extra"):
                self.error(f"unrecognized arguments: -- {' '.join(tail)}")
            parsed.extra = tail
        return parsed

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"{value} must be > 0 and at most a day")
    return value


def lazy(module: str, name: str) -> Callable[[argparse.Namespace], int | None]:
    """A handler imported when it runs: ``pooldesk --help`` and the window (``pooldesk``) do
    not pay for importing Celery, kombu and redis for every subcommand (≈ 0.7 s)."""

    def handler(args: argparse.Namespace) -> int | None:
        function = getattr(importlib.import_module(f"pooldesk.backend.cli.{module}"), name)
        return function(args)

    handler.__qualname__ = f"{module}.{name}"
    return handler
