"""``python -m _pooldesk_check APP``: import a user's Celery app once and describe it.

Run by Pooldesk in the *project's* interpreter, working directory and environment (a
subprocess; the app is never imported into Pooldesk's process). Stand-alone like the probe:
standard library and Celery only. Prints one line ``@@pooldesk-check@@ {json}`` at the end (the
app may print anything it likes before), with: Python and Celery versions, the broker and result
backend URLs exactly as the app resolves them (Pooldesk masks them before showing anything and
keeps the real ones only in a 0600 file), the default queue, every registered task with the
queue it routes to (and whether it acks late: project batches tell a lost child from a
redelivered one by it), the pools this environment can run, and an import error's last line.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import traceback
from collections.abc import Callable
from typing import Any

MARKER = "@@pooldesk-check@@"


def last_line(exc: BaseException) -> str:
    """An exception's last line ("ModuleNotFoundError: No module named 'shop'"), for people."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _pools() -> dict[str, str | None]:
    """Pool → None if this environment can run it, else why not."""
    pools: dict[str, str | None] = {"prefork": None, "gevent": None, "threads": None, "solo": None}
    if sys.platform == "win32":
        pools["prefork"] = "prefork needs fork() and POSIX signals, which Windows lacks"
    if importlib.util.find_spec("gevent") is None:
        pools["gevent"] = "gevent is not installed in this environment (pip install gevent)"
    return pools


def queue_of(app: Any, name: str) -> str:
    """The queue a task routes to, as the app's router decides (its default queue if unsure)."""
    try:
        task = app.tasks[name]
        options = {"queue": task.queue} if getattr(task, "queue", None) else {}
        queue = app.amqp.router.route(options, name, (), {}).get("queue")
        return str(getattr(queue, "name", queue) or app.conf.task_default_queue)
    except Exception:
        return str(app.conf.task_default_queue)


def _task(app: Any, name: str) -> dict[str, Any]:
    """Name, queue, ``acks_late`` (whether a child whose worker dies mid-run is redelivered:
    project batches say *lost* or *redelivered*) and, when the task declares one, its
    ``nature=`` (cpu, io, blocking)."""
    task = app.tasks[name]
    out: dict[str, Any] = {
        "name": name,
        "queue": queue_of(app, name),
        "acks_late": bool(getattr(task, "acks_late", False)),
    }
    nature = getattr(task, "nature", None)
    if isinstance(nature, str):
        out["nature"] = nature
    return out


def describe(app_path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version(), "executable": sys.executable}
    try:
        import celery
        from celery.app.utils import find_app
    except Exception as exc:
        out["error"] = f"Celery is not importable in this environment: {last_line(exc)}"
        return out
    out["celery"] = celery.__version__
    out["pools"] = _pools()
    try:
        module_name, _, attr = app_path.partition(":")
        if attr:  # find_app would report "No module named 'shop.celery:nope'" for a bad attr
            module = importlib.import_module(module_name)
            if not hasattr(module, attr.split(".")[0]):
                out["error"] = (
                    f"the module {module_name} imported, but it has no attribute {attr!r} "
                    f"(check the part after the colon)"
                )
                return out
        app = find_app(app_path)
        app.loader.import_default_modules()
        app.finalize(auto=True)
        out["broker_url"] = app.connection_for_write().as_uri(include_password=True)
        backend = app.conf.result_backend
        out["result_backend"] = str(backend) if backend else None
        out["default_queue"] = str(app.conf.task_default_queue)
        tasks = sorted(n for n in app.tasks if not n.startswith("celery."))
        out["tasks"] = [_task(app, n) for n in tasks]
    except BaseException as exc:  # SystemExit from a settings module counts too
        out["error"] = last_line(exc)
    return out


def answer(
    module: str, marker: str, describe: Callable[[str], dict[str, Any]], argv: list[str] | None
) -> None:
    """``python -m MODULE APP``: describe APP and print ``MARKER {json}`` as the last line (the
    app may print anything before it; Pooldesk reads only the marked line)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write(f"usage: python -m {module} APP\n")
        raise SystemExit(2)
    result = describe(args[0])
    sys.stdout.flush()
    sys.stdout.write(f"\n{marker} {json.dumps(result)}\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    answer("_pooldesk_check", MARKER, describe, argv)


if __name__ == "__main__":
    main()
