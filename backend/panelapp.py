"""The one factory for the Celery apps the panel itself makes (never a worker's app).

Every panel app starts from :func:`pooldesk.backend.celery_app.make_app` (same serialisation,
queues, routes and visibility timeout as the workers, so what it sends a worker accepts) with no
task modules, then is tuned for what it is *for*. Workers retry the broker and the result backend
for about a minute or forever, because losing a result loses work; the panel must instead answer
within seconds and show the last known state, so every panel purpose shortens some of that. The
purposes differ only where their callers need it:

``"watch"``
    The window's event receiver (``telemetry.events``) and remote control
    (``workers.control``: ping, inspect, pool resize). One connection attempt of 2 s and one
    transport retry with a 3 s socket timeout: a dead broker must surface at once, because the
    callers' own loops retry with their backoff and show the outage meanwhile.
``"send"``
    What publishes tasks and reads their results for a person waiting on the answer: batches
    (``batches.service``: launch, cancel, read progress from the result backend) and task
    actions (``taskhistory.actions``: retry, revoke). Publishing gives up after ≈ 1 s
    (:data:`PANEL_PUBLISH_RETRY`, not the workers' minute); the result backend is not retried
    (the refresh keeps the old state and says why) and its Redis sockets time out in 3 s / 5 s.
``"record"``
    The task-history recorder (``taskhistory.recorder``), a headless process of its own that
    nobody waits on: only the connect timeout is bounded (3 s), so its loop notices an outage
    and records a gap, while kombu otherwise keeps the workers' patience.
"""

from __future__ import annotations

from typing import Any, Literal

from celery import Celery

from pooldesk.backend.celery_app import make_app

Purpose = Literal["watch", "send", "record"]

PANEL_PUBLISH_RETRY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

_TUNING: dict[str, dict[str, Any]] = {
    "watch": {
        "broker_connection_timeout": 2.0,
        "broker_connection_max_retries": 1,
    },
    "send": {
        "task_publish_retry_policy": PANEL_PUBLISH_RETRY,
        "result_backend_always_retry": False,
        "redis_socket_timeout": 5.0,
        "redis_socket_connect_timeout": 3.0,
    },
    "record": {
        "broker_connection_timeout": 3.0,
    },
}
# Merged into the shared broker_transport_options (which keep the visibility timeout).
_TRANSPORT: dict[str, dict[str, Any]] = {
    "watch": {"max_retries": 1, "socket_timeout": 3},
}


def panel_app(purpose: Purpose, broker_url: str | None, result_backend: str | None) -> Celery:
    """A Celery app for the panel, tuned for ``purpose`` (see the module docstring)."""
    app = make_app(broker_url, result_backend, include=[])
    app.conf.update(_TUNING[purpose])
    extra = _TRANSPORT.get(purpose)
    if extra:
        app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}), **extra}
    return app
