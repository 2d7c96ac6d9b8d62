"""The panel's Celery apps: each purpose keeps the workers' shared settings and changes only what
its callers need (no broker: building an app connects nothing)."""

from __future__ import annotations

import pytest

from pooldesk.backend.celery_app import WORKER_PUBLISH_RETRY, make_app, visibility_timeout
from pooldesk.backend.panelapp import PANEL_PUBLISH_RETRY, panel_app

URL = "redis://127.0.0.1:1/0"


@pytest.mark.parametrize("purpose", ["watch", "send", "record"])
def test_every_purpose_keeps_the_shared_config(purpose: str) -> None:
    app = panel_app(purpose, URL, URL)  # type: ignore[arg-type]
    shared = make_app(URL, URL, include=[]).conf
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_routes == shared.task_routes
    assert app.conf.broker_transport_options["visibility_timeout"] == visibility_timeout()
    assert not app.conf.include  # the panel never imports the task modules


def test_watch_fails_fast_on_a_dead_broker() -> None:
    conf = panel_app("watch", URL, URL).conf
    assert conf.broker_connection_timeout == 2.0
    assert conf.broker_connection_max_retries == 1
    assert conf.broker_transport_options["max_retries"] == 1
    assert conf.broker_transport_options["socket_timeout"] == 3


def test_send_gives_up_publishing_and_reading_results_within_seconds() -> None:
    conf = panel_app("send", URL, URL).conf
    assert conf.task_publish_retry_policy == PANEL_PUBLISH_RETRY
    assert conf.result_backend_always_retry is False
    assert (conf.redis_socket_timeout, conf.redis_socket_connect_timeout) == (5.0, 3.0)
    assert conf.broker_connection_max_retries is None  # only watch caps the connection


def test_record_bounds_only_the_connect_timeout() -> None:
    conf = panel_app("record", URL, URL).conf
    assert conf.broker_connection_timeout == 3.0
    assert conf.task_publish_retry_policy == WORKER_PUBLISH_RETRY
    assert "max_retries" not in conf.broker_transport_options


def test_tuning_one_app_leaves_the_next_untouched() -> None:
    panel_app("watch", URL, URL)
    assert "socket_timeout" not in panel_app("send", URL, URL).conf.broker_transport_options
