"""Pooldesk's Celery application and the configuration every Pooldesk-made app shares.

JSON only (a pickled message is rejected, never executed); events on so the panel can watch;
``acks_late`` + ``reject_on_worker_lost`` + prefetch 1 so a killed worker's task goes back to
the queue instead of vanishing. Workers get the broker URL through the environment
(``POOLDESK_BROKER_URL``), never on the command line where ``ps`` would show the password.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from kombu import Queue

QUEUES = ("invoices", "monitoring", "orchestration", "default")
DEFAULT_QUEUE = "default"
RESULT_EXPIRES_S = 7 * 24 * 3600
# A message taken by a worker that then dies whole stays unacked in Redis; it is redelivered
# once it is older than the visibility timeout. Shorter recovers sooner but redelivers chunks
# still running longer than that (harmless: chunks are idempotent, only work is repeated).
VISIBILITY_TIMEOUT_ENV = "POOLDESK_VISIBILITY_TIMEOUT"
DEFAULT_VISIBILITY_TIMEOUT_S = 900


MAX_CONNECTIONS_ENV = "POOLDESK_BROKER_MAX_CONNECTIONS"


def broker_max_connections() -> int:
    """kombu's Redis pool holds 10 connections by default; 200 greenlets acking at once ran out
    ("MaxConnectionsError: Too many connections", lost acks, children stuck unacked). Workers
    get a pool sized to their concurrency from ``workers.process``."""
    try:
        return max(10, int(os.environ.get(MAX_CONNECTIONS_ENV, "")))
    except ValueError:
        return 10


def visibility_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get(VISIBILITY_TIMEOUT_ENV, "")))
    except ValueError:
        return float(DEFAULT_VISIBILITY_TIMEOUT_S)


TASK_MODULES = [
    "pooldesk.backend.tasks.basic",
    "pooldesk.backend.tasks.invoices",
    "pooldesk.backend.tasks.monitoring",
    "pooldesk.backend.tasks.batches",
]


def base_config(broker_url: str | None, result_backend: str | None) -> dict[str, Any]:
    return {
        "broker_url": broker_url,
        "result_backend": result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "result_expires": RESULT_EXPIRES_S,
        # A result that cannot be stored while the broker/backend restarts is retried, not
        # turned into a FAILURE of work that actually succeeded.
        "result_backend_always_retry": True,
        # Likewise a message sent while the broker restarts (a batch watcher rescheduling
        # itself, a child sent again) is retried for about a minute instead of failing the
        # batch; kombu's default gives up after ≈ 0.6 s. The panel's own apps shorten it
        # (``pooldesk.backend.panelapp``).
        "task_publish_retry_policy": WORKER_PUBLISH_RETRY,
        "task_queues": [Queue(name, routing_key=name) for name in QUEUES],
        "task_default_queue": DEFAULT_QUEUE,
        "task_default_routing_key": DEFAULT_QUEUE,
        "task_routes": {
            "pooldesk.invoices.*": {"queue": "invoices"},
            "pooldesk.monitoring.*": {"queue": "monitoring"},
            "pooldesk.batch.*": {"queue": "orchestration"},
        },
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout(),
            "max_connections": broker_max_connections(),
            # kombu sweeps for abandoned messages only every ~100 s by default: every 5 s here.
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "enable_utc": True,
    }


WORKER_PUBLISH_RETRY = {
    "max_retries": 60,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 1.0,
}


def make_app(
    broker_url: str | None, result_backend: str | None, include: list[str] | None = None
) -> Celery:
    """A configured app: workers use the module-level one, the panel makes its own per broker."""
    app = Celery("pooldesk", include=include if include is not None else TASK_MODULES)
    app.conf.update(base_config(broker_url, result_backend))
    return app


app = make_app(
    os.environ.get("POOLDESK_BROKER_URL") or os.environ.get("CELERY_BROKER_URL"),
    os.environ.get("POOLDESK_RESULT_BACKEND") or os.environ.get("CELERY_RESULT_BACKEND"),
)
