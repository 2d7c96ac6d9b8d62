"""Who restarts the recorder's supervisor: every Pooldesk worker supervisor on the broker.

Why them: the recorder must run exactly while Pooldesk workers run, and a worker's supervisor is
the one process that lives exactly that long (it outlives the window and the CLI, and stays
through a worker's crash-loop back-off). The window and the CLI also call ``ensure_recorder``,
but only when someone uses them; with only those, a recorder killed together with its
supervisor stayed down until the next ``worker start`` and a whole batch went unrecorded.

Each worker supervisor, once started, holds ``KEY.users.lock`` shared for its whole life (so
"a worker uses this broker" is a kernel fact, dropped when the supervisor dies) and runs one
daemon thread that calls ``ensure_recorder`` every ``KEEP_S``: a file read and a liveness check
when the recorder runs, a new supervisor when it does not. It stops keeping once the data
directory is gone (nothing outlives its data directory).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from pooldesk.backend import paths
from pooldesk.backend.broker.resolve import BrokerConfig

log = logging.getLogger(__name__)

KEEP_S = 2.0  # a killed supervisor + recorder are back within this plus ~1 s of start-up
_held_fds: list[int] = []


def broker_of(project: str | None) -> BrokerConfig | None:
    """The broker this worker supervisor's worker uses: the project's own, else the one in our
    environment (the worker manager puts Pooldesk's broker there)."""
    if project:
        from pooldesk.backend.projects.brokers import own_broker

        own = own_broker(project)
        if own is not None:
            return own if own.broker_url else None
    url = os.environ.get("POOLDESK_BROKER_URL")
    if not url:
        return None
    return BrokerConfig(url, os.environ.get("POOLDESK_RESULT_BACKEND"), managed=False)


def keep(project: str | None, every: float = KEEP_S) -> threading.Thread | None:
    """Hold this broker's users lock and keep its recorder running, from a daemon thread.
    Never raises: the history is secondary to the worker itself."""
    from pooldesk.backend.taskhistory import service

    try:
        config = broker_of(project)
        if config is None or not config.broker_url:
            return None
        key = service.broker_key(config.broker_url)
        home = paths.home()
        fd = service.hold(service.lock_path(key, "users"), shared=True, wait=True)
    except Exception as exc:
        log.warning("task history: not keeping a recorder: %s", exc)
        return None
    if fd is not None:
        _held_fds.append(fd)
    stop = threading.Event()
    thread = threading.Thread(
        target=_loop, args=(config, home, every, stop), name="recorder-keeper", daemon=True
    )
    thread.start()
    return thread


def _loop(config: BrokerConfig, home: Path, every: float, stop: threading.Event) -> None:
    from pooldesk.backend.taskhistory import service

    while not stop.wait(every):
        if not home.is_dir():  # the data directory was deleted: never recreate it
            return
        try:
            service.ensure_recorder(config)
        except Exception as exc:  # a full disk, a read-only home: try again next round
            log.warning("task history: could not start the recorder: %s", exc)
