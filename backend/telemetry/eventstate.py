"""The event monitor's own bounded state: Celery events in, counts and rolling stats out.

Not Celery's ``State`` (whose task store grows with the stream). Everything here is capped:
tasks kept (LRU, oldest evicted), batches and children per batch, latency samples per queue,
rate buckets per queue. Touched from one thread only (the monitor's); readers get immutable
``EventSnapshot``s from ``snapshot()``. Pure data: no broker, so tests feed events directly.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from pooldesk.backend.telemetry import eventparts as parts
from pooldesk.backend.telemetry.eventparts import ENDED, UNKNOWN_QUEUE, Batch, Queue, Task, Worker
from pooldesk.backend.telemetry.fitstate import FIT_EVENT, FitFold
from pooldesk.backend.telemetry.tally import KINDS, TaskTally
from pooldesk.backend.telemetry.timeline import SPANS_PER_QUEUE, spans_of
from pooldesk.backend.telemetry.views import BatchView, EventSnapshot, QueueView, Span, WorkerView

MAX_TASKS = 50_000
MAX_BATCHES = 500
MAX_CHILDREN = 100_000  # per batch
MAX_WORKERS = 2_000
MAX_QUEUES = 1_000
OFFLINE_AFTER_BEATS = 3.0  # offline when no worker event for 3 × its heartbeat interval
PHANTOM_BEATS = 3  # heartbeats saying "0 active" while we count some: resync
LOOP_EVENT = "worker-loop"  # sent every second by the in-worker probe (_pooldesk_probe)
LOOP_FIELDS = ("lag_ms_max", "lag_ms_p50", "blocked_reports")


class EventState:
    def __init__(
        self,
        max_tasks: int = MAX_TASKS,
        max_batches: int = MAX_BATCHES,
        max_children: int = MAX_CHILDREN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_tasks = max_tasks
        self.max_batches = max_batches
        self.max_children = max_children
        self.clock = clock
        self.started_at = clock()
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self.workers: OrderedDict[str, Worker] = OrderedDict()
        self.queues: OrderedDict[str, Queue] = OrderedDict()
        self.batches: OrderedDict[str, Batch] = OrderedDict()
        self.generation = 0
        self.events = 0
        self.enable_wanted: list[str] = []  # workers to send enable_events to (once each)
        self.resync_wanted: str | None = None  # why the stream is not to be trusted
        # Monitor facts shown in the snapshot (set by the monitor, same thread).
        self.connected = False
        self.lag = 0.0
        self.reconnects = 0
        self.resyncs = 0
        self.last_resync_at: float | None = None
        self.last_resync_reason: str | None = None
        self.last_error: str | None = None
        self._worker_views: dict[str, WorkerView] = {}
        self._batch_views: dict[str, BatchView] = {}
        self._dirty_workers: set[str] = set()
        self._dirty_batches: set[str] = set()
        self.fit = FitFold()  # the probe's per-task measurements (worker-fit events)
        self.spans: dict[str, deque[Task]] = {}  # queue → tasks as they started (timeline)
        self.tally = TaskTally()  # counters per task name/worker/queue (Prometheus)

    # -- events ------------------------------------------------------------------------------
    def apply(self, event: Mapping[str, Any]) -> None:
        """Fold one Celery event in; unknown or malformed events are ignored."""
        kind = event.get("type") or ""
        self.events += 1
        self.generation += 1
        if kind.startswith("task-"):
            self._task_event(kind, event)
        elif kind.startswith("worker-"):
            self._worker_event(kind, event)

    def _worker(self, host: str) -> Worker:
        worker = self.workers.get(host)
        if worker is None:
            worker = self.workers[host] = Worker(host)
            if len(self.workers) > MAX_WORKERS:  # drop the oldest offline worker
                for name, old in self.workers.items():
                    if not old.online:
                        del self.workers[name]
                        self._worker_views.pop(name, None)
                        break
        self._dirty_workers.add(host)
        return worker

    def _worker_event(self, kind: str, event: Mapping[str, Any]) -> None:
        host = event.get("hostname")
        if not host:
            return
        if kind == FIT_EVENT:  # sent by pool processes too: their pid is not the worker's
            self.fit.apply(host, event, float(event.get("local_received") or self.clock()))
            self._queues_of_runs(event.get("runs"))
            return
        worker = self._worker(host)
        pid = event.get("pid")
        if kind == "worker-online" or (pid and worker.pid and pid != worker.pid):
            worker.new_life(int(event.get("processed") or 0))
            self.fit.forget(host)  # a new life: new processes count from zero
        worker.pid = pid or worker.pid
        worker.last_seen = event.get("local_received") or self.clock()
        worker.last_heartbeat = event.get("timestamp") or worker.last_heartbeat
        worker.freq = float(event.get("freq") or worker.freq)
        if event.get("loadavg"):
            worker.loadavg = tuple(float(v) for v in event["loadavg"])
        worker.sw_ident = event.get("sw_ident") or worker.sw_ident
        worker.sw_ver = event.get("sw_ver") or worker.sw_ver
        if kind == "worker-offline":
            worker.online, worker.left = False, True
            return
        if kind not in ("worker-online", "worker-heartbeat"):  # e.g. the probe's worker-loop
            worker.online = worker.online or not worker.left  # alive, whatever it says
            if kind == LOOP_EVENT:
                worker.loop = {k: float(event[k]) for k in LOOP_FIELDS if event.get(k) is not None}
            return
        worker.online, worker.left = True, False
        processed = int(event.get("processed") or 0)
        worker.reported = max(worker.reported, processed)
        active = event.get("active")
        worker.reported_active = int(active) if active is not None else None
        busy = bool(active) or processed > worker.processed_at_sight
        if busy and not worker.task_events and not worker.enable_sent:
            worker.enable_sent = True  # it works but tells us nothing about its tasks: ask it to
            self.enable_wanted.append(host)
        if active == 0 and worker.active > 0:
            worker.phantom += 1
            if worker.phantom >= PHANTOM_BEATS:
                worker.phantom = 0
                self.resync_wanted = f"{host} reports no active task, events say {worker.active}"
        else:
            worker.phantom = 0

    def _task(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is not None:
            self.tasks.move_to_end(task_id)
            return task
        task = self.tasks[task_id] = Task(task_id)
        if len(self.tasks) > self.max_tasks:
            self._evict(self.tasks.popitem(last=False)[1])
        return task

    def _evict(self, task: Task) -> None:
        """Forget a task: it no longer counts as in flight nor active (its batch keeps it)."""
        if task.state is not None and task.state not in ENDED:
            self._queue(task.queue).in_flight -= 1
            if task.state == "STARTED":
                self._unstart(task)

    def _queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(name)
            if len(self.queues) > MAX_QUEUES:
                self.queues.popitem(last=False)
        return queue

    def _task_event(self, kind: str, event: Mapping[str, Any]) -> None:
        task_id = event.get("uuid")
        if not task_id:
            return
        task = self._task(task_id)
        ts = float(event.get("timestamp") or self.clock())
        if kind == "task-sent":
            task.name = event.get("name") or task.name
            queue = event.get("queue") or event.get("routing_key")
            if queue:
                self._set_queue(task, str(queue))
            if task.sent is None:
                task.sent = ts
                if task.started is not None:  # task-sent came after task-started (two senders)
                    self._queue(task.queue).wait.add(task.started - ts)
            if task.state is None:
                self._transition(task, "PENDING")
            self.tally.count("sent", task.name, None, task.queue)
            return
        host = event.get("hostname")
        if host:
            worker = self.workers.get(host) or self._worker(host)
            worker.task_events = True
            task.hostname = host
        if task.state in ENDED and task.state != "UNKNOWN":
            return  # a late or duplicate event for a finished task
        if kind[5:] in KINDS:
            self.tally.count(kind[5:], task.name, host, task.queue)
        if kind == "task-received":
            task.name = event.get("name") or task.name
            if task.state in (None, "PENDING", "RETRY", "UNKNOWN"):
                self._transition(task, "RECEIVED")
        elif kind == "task-started":
            if task.state != "STARTED":
                task.pid = event.get("pid") if isinstance(event.get("pid"), int) else None
                self._start(task, ts)
                spans = self.spans.get(task.queue)
                if spans is None and len(self.spans) < MAX_QUEUES:
                    spans = self.spans[task.queue] = deque(maxlen=SPANS_PER_QUEUE)
                if spans is not None:
                    spans.append(task)
        elif kind == "task-succeeded" or kind == "task-failed":
            self._finish(task, "SUCCESS" if kind == "task-succeeded" else "FAILURE", ts, event)
        elif kind == "task-revoked":
            self._finish(task, "REVOKED", ts, None)
        elif kind == "task-rejected":
            if event.get("requeue"):
                self._unstart(task)
                self._transition(task, "PENDING")
            else:
                self._finish(task, "REJECTED", ts, None)
        elif kind == "task-retried":
            self._unstart(task)
            self._transition(task, "RETRY")

    def _queues_of_runs(self, runs: Any) -> None:
        """A user's tasks are sent by their app (no ``task-sent`` here): the probe's runs name
        each one's queue, so Queue throughput covers them too (issue 21: it stayed empty
        while a project's queue ran). A finished run moves from "(unknown)" to its queue."""
        for run in runs if isinstance(runs, list) else []:
            if not isinstance(run, list | tuple) or len(run) < 2 or not run[1]:
                continue
            task = self.tasks.get(str(run[0]))
            queue = str(run[1])
            if task is None or task.queue != UNKNOWN_QUEUE or queue == UNKNOWN_QUEUE:
                continue
            if task.state in ("SUCCESS", "FAILURE") and task.ended is not None:
                old, new = self._queue(UNKNOWN_QUEUE), self._queue(queue)
                ok = task.state == "SUCCESS"
                if (old.succeeded if ok else old.failed) > 0:
                    old.rate.add(task.ended, -1)
                    old.succeeded -= ok
                    old.failed -= not ok
                new.rate.add(task.ended)
                new.succeeded += ok
                new.failed += not ok
            self._set_queue(task, queue)

    def _set_queue(self, task: Task, name: str) -> None:
        if task.queue == name:
            return
        if task.state is not None and task.state not in ENDED:  # move the in-flight count
            self._queue(task.queue).in_flight -= 1
            self._queue(name).in_flight += 1
        task.queue = name

    def _transition(self, task: Task, state: str) -> None:
        old = task.state
        if old == state:
            return
        was_open = old is not None and old not in ENDED
        is_open = state not in ENDED
        if was_open != is_open:
            self._queue(task.queue).in_flight += 1 if is_open else -1
        task.state = state
        if task.batch is not None:
            self._batch_child(task, old, state)

    def _start(self, task: Task, ts: float, count_wait: bool = True) -> None:
        self._transition(task, "STARTED")
        task.started = ts
        if count_wait and task.sent is not None:
            self._queue(task.queue).wait.add(ts - task.sent)
        worker = self.workers.get(task.hostname or "")
        if worker is not None:
            worker.active += 1
            self._dirty_workers.add(worker.hostname)

    def _unstart(self, task: Task) -> None:
        if task.state != "STARTED":
            return
        worker = self.workers.get(task.hostname or "")
        if worker is not None and worker.active > 0:
            worker.active -= 1
            self._dirty_workers.add(worker.hostname)

    def _finish(
        self, task: Task, state: str, ts: float, event: Mapping[str, Any] | None, timed: bool = True
    ) -> None:
        """``timed=False``: an outcome learnt late (a resync): counted, but not as throughput
        nor latency, since we don't know when it happened."""
        self._unstart(task)
        started = task.started if task.state == "STARTED" else None
        if timed:
            task.ended = ts
        self._transition(task, state)
        if state not in ("SUCCESS", "FAILURE"):
            return
        queue = self._queue(task.queue)
        ok = state == "SUCCESS"
        queue.succeeded += ok
        queue.failed += not ok
        if timed:
            queue.rate.add(ts)
            runtime = event.get("runtime") if event is not None else None
            if runtime is None and started is not None:
                runtime = ts - started
            if runtime is not None:
                queue.run.add(float(runtime))
                self.tally.runtime(task.name, task.queue, float(runtime))
            worker = self.workers.get(task.hostname or "")
            if worker is not None:
                worker.count(ok)
                self._dirty_workers.add(worker.hostname)

    def _batch_child(self, task: Task, old: str | None, state: str) -> None:
        assert task.batch is not None
        batch = self.batches.get(task.batch)
        if batch is None:
            batch = self.batches[task.batch] = Batch(task.batch)
            while len(self.batches) > self.max_batches:
                gone, _ = self.batches.popitem(last=False)
                self._batch_views.pop(gone, None)
        else:
            self.batches.move_to_end(task.batch)
        if batch.set_child(task.id, parts.child_index(task.id), old, state, self.max_children):
            self._dirty_batches.add(batch.batch_id)

    # -- the timeline (read from any thread: copies, never iterates a live deque) -----------
    def timeline(
        self, queue: str | None = None, prefix: str | None = None, limit: int = SPANS_PER_QUEUE
    ) -> list[Span]:
        """Started tasks as spans on their worker's slot (hostname, pid), oldest first: those
        of one queue, and/or whose id starts with ``prefix`` (a batch's children)."""
        return spans_of(self.spans, self.fit.runs, self.tasks, queue, prefix, limit)

    # -- time and resync ---------------------------------------------------------------------
    def check_offline(self, now: float) -> bool:
        """Mark workers whose heartbeats stopped (> 3 × freq) offline; True if any changed."""
        changed = False
        for worker in self.workers.values():
            if worker.online and now - worker.last_seen > OFFLINE_AFTER_BEATS * worker.freq:
                worker.online = False
                self._dirty_workers.add(worker.hostname)
                changed = True
        if changed:
            self.generation += 1
        return changed

    def touch(self) -> None:
        """Something shown changed without an event (rates decay with time)."""
        self.generation += 1

    # -- snapshot ----------------------------------------------------------------------------
    def snapshot(self, now: float | None = None) -> EventSnapshot:
        """Immutable views; only workers/batches changed since the last call are rebuilt."""
        now = self.clock() if now is None else now
        for host in self._dirty_workers:
            worker = self.workers.get(host)
            if worker is not None:
                self._worker_views[host] = worker.view()
        self._dirty_workers.clear()
        for batch_id in self._dirty_batches:
            batch = self.batches.get(batch_id)
            if batch is not None:
                self._batch_views[batch_id] = batch.view()
        self._dirty_batches.clear()
        elapsed = now - self.started_at
        queues: dict[str, QueueView] = {
            name: q.view(now, elapsed)
            for name, q in self.queues.items()
            if name != UNKNOWN_QUEUE or q.in_flight or q.succeeded or q.failed or q.rate.total
        }  # (unknown) appears only while a task's task-sent is not (yet) seen
        return EventSnapshot(
            generation=self.generation,
            timestamp=now,
            connected=self.connected,
            workers=MappingProxyType(dict(self._worker_views)),
            queues=MappingProxyType(queues),
            batches=MappingProxyType(dict(self._batch_views)),
            fit=self.fit.views(),
            tasks_kept=len(self.tasks),
            events=self.events,
            lag_seconds=self.lag,
            reconnects=self.reconnects,
            resyncs=self.resyncs,
            last_resync_at=self.last_resync_at,
            last_resync_reason=self.last_resync_reason,
            last_error=self.last_error,
            tally=self.tally.view(),
        )
