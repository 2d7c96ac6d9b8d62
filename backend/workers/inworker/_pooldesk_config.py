"""``python -m _pooldesk_config APP``: the settings of a user's Celery app that the audit judges.

Run by Pooldesk in the *project's* interpreter, working directory and environment, like
``_pooldesk_check`` (stand-alone: standard library and Celery only). Prints one line
``@@pooldesk-config@@ {json}`` with, per setting, its ``value`` and its ``source``:

- ``default``: Celery's own default (``celery.app.defaults``);
- ``app``: set in code (``Celery(...)`` keyword, ``app.conf.update``/``app.conf.x = …``);
- ``settings:<module>`` / ``django:<DJANGO_SETTINGS_MODULE>``: the object given to
  ``config_from_object`` (with its namespace, old-style names included);
- ``env:<NAME>``: an environment variable Celery reads itself (``CELERY_BROKER_URL``).

Values leave as JSON scalars, lists or dicts of them; anything else leaves as its ``repr`` (the
audit treats it as unreadable, never crashes on it). Transport-option keys that look like
secrets are masked here already; URLs are masked by Pooldesk before anything is shown.
Per-task overrides (``acks_late``, time limits) and the queues' declared types come too.
"""

from __future__ import annotations

import os
import platform
import re
from typing import Any

try:  # ``python -m _pooldesk_config`` in the project's interpreter: this folder is on sys.path
    from _pooldesk_check import answer, last_line, queue_of
except ImportError:  # imported from the pooldesk package (tests, the frozen build's entry)
    from ._pooldesk_check import answer, last_line, queue_of

MARKER = "@@pooldesk-config@@"
SETTINGS = (
    "broker_transport_options",
    "result_backend_transport_options",
    "task_acks_late",
    "task_reject_on_worker_lost",
    "task_acks_on_failure_or_timeout",
    "worker_prefetch_multiplier",
    "worker_disable_prefetch",
    "task_time_limit",
    "task_soft_time_limit",
    "result_expires",
    "task_default_queue",
    "task_default_queue_type",
    "task_create_missing_queue_type",
    "worker_eta_task_limit",
    "worker_soft_shutdown_timeout",
    "worker_enable_soft_shutdown_on_idle",
    "worker_max_tasks_per_child",
    "worker_max_memory_per_child",
    "worker_concurrency",
    "worker_pool",
    "worker_autoscaler",
)
ENV_READ = {"broker_url": "CELERY_BROKER_URL", "result_backend": "CELERY_RESULT_BACKEND"}
_SECRET_KEY = re.compile(r"pass|secret|token|credential|key", re.I)
TASK_OPTIONS = ("acks_late", "reject_on_worker_lost", "time_limit", "soft_time_limit")


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy: scalars as they are, containers recursively, the rest as ``repr``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth < 4 and isinstance(value, dict):
        return {
            str(k): "****" if _SECRET_KEY.search(str(k)) else plain(v, depth + 1)
            for k, v in value.items()
        }
    if depth < 4 and isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    if hasattr(value, "total_seconds"):  # a timedelta (result_expires)
        try:
            return float(value.total_seconds())
        except Exception:
            pass
    return repr(value)[:200]


def _config_object(app: Any) -> tuple[Any, str | None]:
    """The object given to ``config_from_object`` and its label (None: there is none)."""
    source = getattr(app, "_config_source", None)
    if source is None:
        return None, None
    label = source if isinstance(source, str) else getattr(source, "__name__", repr(source))
    try:
        if isinstance(source, str):
            from celery.utils.imports import symbol_by_name

            source = symbol_by_name(source)
    except Exception:
        return None, None
    if str(label).startswith("django.conf"):
        return source, f"django:{os.environ.get('DJANGO_SETTINGS_MODULE', '?')}"
    return source, f"settings:{label}"


def _names(key: str, namespace: str | None) -> list[str]:
    """The names a setting may have in a config object: new, namespaced, old-style."""
    names = [key]
    if namespace:
        names.append(f"{namespace}_{key}".upper())
    try:
        from celery.app.defaults import _TO_OLD_KEY

        old = _TO_OLD_KEY.get(key)
        if old:
            names.append(old)
    except Exception:
        pass
    return names


def _source(app: Any, key: str, obj: Any, label: str | None) -> str:
    namespace = getattr(app, "namespace", None)
    if obj is not None and label is not None:
        for name in _names(key, namespace):
            try:
                if hasattr(obj, name) or (isinstance(obj, dict) and name in obj):
                    return label
            except Exception:
                continue
    changes = getattr(app.conf, "changes", {}) or {}
    if key in changes or key in (getattr(app, "_preconf", {}) or {}):
        return "app"
    env = ENV_READ.get(key)
    if env and os.environ.get(env):
        return f"env:{env}"
    return "default"


def _queues(app: Any) -> list[dict[str, Any]]:
    out = []
    try:
        queues = app.conf.task_queues or ()
        for queue in queues:
            args = getattr(queue, "queue_arguments", None) or {}
            out.append(
                {"name": str(queue.name), "type": plain(args.get("x-queue-type") or "classic")}
            )
    except Exception:
        pass
    return out


def _tasks(app: Any) -> list[dict[str, Any]]:
    """Per-task options that differ from the app's settings (a task's own ``acks_late=``)."""
    app_values = {
        "acks_late": app.conf.task_acks_late,
        "reject_on_worker_lost": app.conf.task_reject_on_worker_lost,
        "time_limit": app.conf.task_time_limit,
        "soft_time_limit": app.conf.task_soft_time_limit,
    }
    out = []
    for name in sorted(n for n in app.tasks if not n.startswith("celery.")):
        task = app.tasks[name]
        own = {}
        for option in TASK_OPTIONS:
            try:
                value = getattr(task, option, None)
            except Exception:
                continue
            if value is not None and value != app_values[option]:
                own[option] = plain(value)
        if own:
            out.append({"name": name, "options": own})
    return out


def describe(app_path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version()}
    try:
        import celery
        from celery.app.utils import find_app
    except Exception as exc:
        out["error"] = f"Celery is not importable in this environment: {last_line(exc)}"
        return out
    out["celery"] = celery.__version__
    try:
        app = find_app(app_path)
        app.loader.import_default_modules()
        app.finalize(auto=True)
        conf = app.conf
        obj, label = _config_object(app)
        settings: dict[str, Any] = {}
        for key in SETTINGS:
            try:
                value = conf.get(key)
            except Exception as exc:
                settings[key] = {"value": None, "source": "unreadable", "error": last_line(exc)}
                continue
            settings[key] = {"value": plain(value), "source": _source(app, key, obj, label)}
        for key in ENV_READ:
            settings[key] = {"value": None, "source": _source(app, key, obj, label)}
        out["settings"] = settings
        try:
            out["transport"] = str(app.connection_for_write().transport_cls)
        except Exception:
            out["transport"] = None
        out["queues"] = _queues(app)
        out["tasks"] = _tasks(app)
        out["task_names"] = sorted(n for n in app.tasks if not n.startswith("celery."))
        out["task_queues"] = {n: queue_of(app, n) for n in out["task_names"]}
    except BaseException as exc:  # SystemExit from a settings module counts too
        out["error"] = last_line(exc)
    return out


def main(argv: list[str] | None = None) -> None:
    answer("_pooldesk_config", MARKER, describe, argv)


if __name__ == "__main__":
    main()
