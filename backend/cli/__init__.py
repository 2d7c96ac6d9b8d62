"""The ``pooldesk`` command: the window by default, a CLI for everything the window does.

Exit codes: 0 done, 1 the request failed (broker unreachable, worker error, a failed child),
2 bad input (a flag, a spec, a file) and nothing was started or written.
"""

from __future__ import annotations

import importlib
import signal
import sqlite3
import sys

from pooldesk.backend import paths
from pooldesk.backend.cli.output import fail
from pooldesk.backend.cli.parser import build_parser
from pooldesk.backend.paths import HomeError
from pooldesk.backend.setaside import take
from pooldesk.backend.sqlitefile import StoreError, reason


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if getattr(args, "handler", None) is None:
        return run_gui()
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except HomeError as exc:  # POOLDESK_HOME a file (2) or read-only (1): one line
        return fail(str(exc), code=exc.code)
    except StoreError as exc:  # disk full, read-only, locked: the file was left alone
        return fail(str(exc), code=1)
    except sqlite3.Error as exc:  # the same, met after the file was opened
        return fail(f"a Pooldesk history file cannot be used: {reason(exc)}", code=1)
    except Exception as exc:  # the last line of defence: one readable line, never a traceback
        return fail(f"unexpected error: {type(exc).__name__}: {exc}", code=1)
    finally:
        _announce_set_aside()


def _announce_set_aside() -> None:
    """Files set aside by this command or by a background process since the last front end
    looked (``backend/setaside.py``): each said once, on stderr, whatever the command."""
    for message in take(paths.root_path()):
        print(f"pooldesk: {message}", file=sys.stderr)


def run_gui() -> int:
    """Imported by name: ``backend`` never depends on Qt, the window is an optional client."""
    try:
        app_module = importlib.import_module("pooldesk.desktop.app")
    except ImportError as exc:
        return fail(f"the window needs PySide6 ({exc}); the CLI works without it", code=1)
    try:
        return int(app_module.main())
    except HomeError as exc:  # the window cannot start on this data directory either
        return fail(str(exc), code=exc.code)


def gui_entry() -> None:
    """``pooldesk-gui``: the window, whatever the arguments (a menu entry passes none)."""
    raise SystemExit(run_gui())


def entry() -> None:
    # Piped into ``head``: die quietly like any Unix tool instead of a BrokenPipeError.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    raise SystemExit(main())
