"""The fleet service: the window's door to the other hosts' agents (issue 20, "Window").

A :class:`~pooldesk.desktop.services.base.ServiceThread`. In its thread it listens to the hosts
fanout (``HostWatcher`` over a :class:`~pooldesk.backend.fleet.roster.FleetRegistry`: announces,
samples and each agent's workers) and reads the replies to the commands it sent
(``FleetClient``), a short poll every ``POLL_MS``; it emits the host rows (``host list --json``'s
fields), the other hosts' worker rows, and each command's outcome through the usual
``operationStarted``/``operationFinished`` pair (a pending reply is not an end; the final one
is). The samples go into the registry's ``HostHistory``, which the Overview's machine charts
read from the GUI thread (it is locked).

Commands need the fleet key (``fleet_key_file`` or ``POOLDESK_FLEET_KEY_FILE``). Without one
the panel still watches, ``commandBlock`` says why commands are off (the pages grey their
controls with that text) and a command asked anyway is refused with it. A host that does not
answer within ``REPLY_TIMEOUT_S`` of silence is reported with ``client.silence``'s text (an
answer that comes later is still reported: a loaded host can be slow, not gone).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QTimer, Signal, Slot

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.broker import current_config
from pooldesk.backend.fleet.backlog import as_status
from pooldesk.backend.fleet.client import FleetClient, silence
from pooldesk.backend.fleet.handler import PROJECT_OPS
from pooldesk.backend.fleet.history import HostHistory
from pooldesk.backend.fleet.key import NO_KEY, FleetKeyError, load_key
from pooldesk.backend.fleet.roster import FleetRegistry
from pooldesk.backend.fleet.watch import HostWatcher
from pooldesk.backend.operations import doing
from pooldesk.backend.settings import Settings
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop.services.base import ServiceThread, describe

log = logging.getLogger(__name__)

POLL_MS = 300
LISTEN_S = 0.15  # of each poll on the hosts fanout; the replies get a shorter one
EMIT_S = 1.0  # host rows and worker rows, at most this often (samples come each second)
# Of silence before the first answer; once "pending" came, the operation's own limit (the
# start or stop timeout) plus this (a start on a loaded host took 17 s after its pending reply).
REPLY_TIMEOUT_S = 15.0
LATE_KEPT = 100  # requests reported unanswered whose late answer is still shown
SPEC_FIELDS = (
    "pool", "concurrency", "queues", "autoscale", "loglevel", "max_tasks_per_child",
    "max_memory_per_child", "time_limit", "soft_time_limit", "extra_args",
    "soft_shutdown_timeout", "soft_shutdown_on_idle", "disable_prefetch", "eta_task_limit",
)  # fmt: skip
# The window's op names ("fix", "log") for the fleet's requests.
OPS = {"apply_fix": "fix", "logs": "log"}


def start_params(spec: WorkerSpec) -> dict[str, Any]:
    """A start request's params from the Start dialog's spec (the agent knows the app from
    the project registered there; no ``app`` is sent)."""
    params: dict[str, Any] = {}
    for name in SPEC_FIELDS:
        value = getattr(spec, name, None)
        if isinstance(value, tuple):
            value = list(value)
        if value not in (None, [], ()):
            params[name] = value
    if spec.project:
        params["project"] = spec.project
    return params


class FleetController(ServiceThread):
    hostsChanged = Signal(list)  # list[dict]: host list --json's fields (+ cpu_per_core…)
    workersChanged = Signal(list)  # list[FleetWorker]: every other host's workers
    # ("project on host", BrokerStatus) for each host project's own broker, sampled by its agent
    backlogChanged = Signal(list)
    commandBlock = Signal(str)  # "" when commands can be sent, else why not (no key…)
    logRead = Signal(str, list)  # worker name, its last lines (from its host's agent)
    # A project request's end (op, host, name, ok, text, data): the agent's reply, or why it
    # was not sent or not answered. Not an operation: the dialog or section that asked shows it.
    projectReplied = Signal(str, str, str, bool, str, object)

    expected_errors = (OSError, ValueError, ConnectionError, FleetKeyError)

    def __init__(self, settings: Settings, poll_ms: int = POLL_MS) -> None:
        super().__init__("pooldesk-fleet", settings)
        self.registry = FleetRegistry()
        self.history: HostHistory = self.registry.history  # read by the Overview's charts
        self._poll_ms = poll_ms
        self._watcher: HostWatcher | None = None
        self._client: FleetClient | None = None
        self._key: bytes | None = None
        self._block = NO_KEY
        self._poll_timer: QTimer | None = None
        self._sent: dict[str, tuple[str, str, str, float]] = {}  # rid → op, host, name, silent
        self._next_emit = 0.0
        self._late: dict[str, tuple[str, str, str, float]] = {}  # unanswered in time, kept
        self._last_error = ""

    # -- in the service thread ---------------------------------------------------------------
    def _on_start(self) -> None:
        self._poll_timer = self._timer(self._poll)
        self._load_key()
        self._poll()

    def _on_settings(self, settings: Settings) -> None:
        self._load_key()

    def _on_close(self) -> None:
        for part in (self._client, self._watcher):
            if part is not None:
                part.close()
        self._client = self._watcher = None

    def _load_key(self) -> None:
        try:
            key = load_key(self.settings.fleet_key_file)
        except FleetKeyError as exc:
            key, block = None, str(exc)
        else:
            block = "" if key is not None else NO_KEY
        if key != self._key and self._client is not None:
            self._client.close()
            self._client = None
        self._key, self._block = key, block
        self.commandBlock.emit(block)

    def _url(self) -> str | None:
        return current_config(self.settings).broker_url  # the worker service starts it

    def _poll(self) -> None:
        if self._closing:
            return
        try:
            self._listen()
        except Exception as exc:
            said = f"{type(exc).__name__}: {exc}"
            if said != self._last_error:  # once per distinct failure, not every poll
                self._last_error = said
                log.exception("fleet poll failed")
        else:
            self._last_error = ""
        if self._poll_timer is not None and not self._closing:
            self._poll_timer.start(self._poll_ms)

    def _listen(self) -> None:
        if self._watcher is None:
            url = self._url()
            if not url:
                return
            self._watcher = HostWatcher(self.registry, url)
        self._watcher.poll(LISTEN_S)
        if self._client is not None:
            for reply in self._client.poll(0.01):
                self._reply(reply)
        self._expire()
        now = time.monotonic()
        if now >= self._next_emit:
            self._next_emit = now + EMIT_S
            self.hostsChanged.emit(self.registry.rows())
            self.workersChanged.emit(self.registry.workers())
            self.backlogChanged.emit([as_status(e) for e in self.registry.backlogs.entries()])

    def _reply(self, outcome: dict[str, Any]) -> None:
        rid = str(outcome.get("id", ""))
        if rid in self._late:  # reported as unanswered, then answered after all: say so
            self._sent[rid] = self._late.pop(rid)
        sent = self._sent.get(rid)
        if sent is None:
            return
        op, host, name, _ = sent
        data = outcome.get("data") or {}
        if outcome.get("state") == "pending":
            # Under way there: the agent reports the end, or its own timeout, within the
            # operation's limit (a start watched until it answers ping, a stop's escalation).
            limit = max(self.settings.start_timeout, self.settings.stop_timeout)
            self._sent[rid] = (op, host, name, time.monotonic() + limit + REPLY_TIMEOUT_S)
            return
        del self._sent[rid]
        if "superseded_by" in data:  # a later request replaced it (a fix's restart): it reports
            return
        ok = bool(outcome.get("ok"))
        if op in PROJECT_OPS:
            text = str(outcome.get("text") or ("done" if ok else "failed"))
            self.projectReplied.emit(op, host, name, ok, self._masked(text), dict(data))
            return
        if isinstance(data.get("worker"), dict):
            self.registry.update_worker(host, data["worker"])
        if ok and op == "forget":
            self.registry.forget_worker(host, name)
        if op == "log":
            lines = [str(x) for x in data.get("lines") or []]
            if not ok:
                lines = [f"(the log could not be read: {outcome.get('text', 'failed')})"]
            self.logRead.emit(name, lines)
            return
        text = str(outcome.get("text") or ("done" if ok else "failed"))
        text = text if ok else text[:1].upper() + text[1:]
        text = f"{text[:-1]} on host {host}." if text.endswith(".") else f"{text} (on host {host})"
        self.operationFinished.emit(op, name, ok, self._masked(text))
        self._next_emit = 0.0  # show the fresher row at once

    def _expire(self) -> None:
        now = time.monotonic()
        for rid, (op, host, name, deadline) in list(self._sent.items()):
            if now > deadline:
                del self._sent[rid]
                self._late[rid] = (op, host, name, deadline)
                while len(self._late) > LATE_KEPT:
                    self._late.pop(next(iter(self._late)))
                text = silence(host, REPLY_TIMEOUT_S)
                if op in PROJECT_OPS:
                    self.projectReplied.emit(op, host, name, False, text, {})
                elif op == "log":
                    self.logRead.emit(name, [f"(the log could not be read: {text})"])
                else:
                    self.operationFinished.emit(op, name, False, text[:1].upper() + text[1:])

    # -- requests (queued slot calls from the GUI thread) ------------------------------------
    def _deliver(self, host: str, kind: str, request: dict[str, Any], op: str, name: str) -> None:
        """Sign and send one request to ``host``'s agent; its replies come to ``_reply``."""
        if self._key is None:
            raise FleetKeyError(self._block or NO_KEY)
        if self._client is None:
            url = self._url()
            if not url:
                raise ConnectionError("the broker is not running: no command was sent")
            self._client = FleetClient(self._key, url, window=self.settings.fleet_window)
        rid = self._client.send(host, kind, request)
        self._sent[rid] = (op, host, name, time.monotonic() + REPLY_TIMEOUT_S)

    def _send(self, host: str, op: str, name: str, params: dict[str, Any]) -> None:
        """One worker request of the operations API, signed, to ``host``'s agent."""
        shown = OPS.get(op, op)
        request = {"op": op, "name": name, "params": params}

        def call() -> None:
            self._deliver(host, "worker", request, shown, name)

        if shown == "log":  # not an operation: no status line; a failure shows in place
            try:
                call()
            except Exception as exc:
                self.logRead.emit(name, [f"(the log could not be read: {exc})"])
            return
        self._run(shown, name, f"{doing(op, name)[:-1]} on {host}…", call, failed="Not sent")

    @Slot(str, object)
    def start(self, host: str, spec: WorkerSpec) -> None:
        self._send(host, "start", spec.name, start_params(spec))

    @Slot(str, str)
    def stop(self, host: str, name: str) -> None:
        self._send(host, "stop", name, {})

    @Slot(str, str)
    def stopNow(self, host: str, name: str) -> None:
        self._send(host, "stop_now", name, {})

    @Slot(str, str, str, int)
    def restart(self, host: str, name: str, pool: str, concurrency: int) -> None:
        params: dict[str, Any] = {}
        if pool:
            params["pool"] = pool
        if concurrency:
            params["concurrency"] = concurrency
        self._send(host, "restart", name, params)

    @Slot(str, str, int)
    def resize(self, host: str, name: str, concurrency: int) -> None:
        self._send(host, "resize", name, {"concurrency": concurrency})

    @Slot(str, str)
    def forget(self, host: str, name: str) -> None:
        self._send(host, "forget", name, {})

    @Slot(str, str, int)
    def readLog(self, host: str, name: str, lines: int) -> None:
        self._send(host, "logs", name, {"lines": max(1, min(lines, 5000))})

    @Slot(str, object)
    def applyFix(self, host: str, fix: Fix) -> None:
        """An advisor's fix for a worker on ``host``: its agent applies it (operations API)."""
        name = str(fix.params.get("name", ""))
        self._send(host, "apply_fix", name, {"kind": fix.kind, "params": dict(fix.params)})

    @Slot(str, str, str, object)
    def project(self, host: str, op: str, name: str, params: dict[str, Any]) -> None:
        """A project request (``project_add|check|remove``, ``fleet.panel_projects``' params)
        to ``host``'s agent; its end comes back as ``projectReplied``, never a blocking wait."""
        if self._closing:
            return
        if op not in PROJECT_OPS:
            self.projectReplied.emit(op, host, name, False, f"unknown project op {op!r}", {})
            return
        try:
            self._deliver(host, op, dict(params), op, name)
        except Exception as exc:
            text = f"Not sent: {describe(exc, self.expected_errors)}"
            self.projectReplied.emit(op, host, name, False, self._masked(text), {})

    # -- for tests -----------------------------------------------------------------------------
    def can_command(self) -> bool:
        return self._key is not None

    def pending(self) -> int:
        return len(self._sent)
