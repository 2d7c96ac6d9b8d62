"""Run the product's case study on this machine, in the current ``$POOLDESK_HOME``.

The claim: a CPU/DB-bound invoice batch on ``gevent -c 20`` runs its chunks one after another
(one core), on ``prefork -c <cores>`` in parallel; an I/O-bound monitoring batch is the
opposite. Each (scenario, pool) gets one fresh worker consuming a queue of its own
(``casestudy.<scenario>.<pool>``): a user's own workers or a backlog on ``invoices`` can neither
steal its tasks nor add to them, and neither can a redelivered leftover of the previous run
(a gevent worker that loses its broker connection redelivers messages it already ran). The
batch parent and watcher run on a separate ``cs-orch`` worker so they are never measured.

Every worker this starts, and the test server, is stopped in ``finally``; a worker that
stopped cleanly is dropped from the list (its log stays), and the queues are purged.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from sqlalchemy import Engine, delete

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.params import InvoiceParams, MonitorParams
from pooldesk.backend.batches.service import BatchService
from pooldesk.backend.broker.resolve import ensure_broker
from pooldesk.backend.casestudy.measure import PeakUss, TestServer, last_done
from pooldesk.backend.casestudy.report import INVOICES, MONITORING, CaseStudyReport, Run
from pooldesk.backend.invoices.db import Invoice, make_engine
from pooldesk.backend.invoices.pdf import invoices_dir
from pooldesk.backend.invoices.seed import seed
from pooldesk.backend.taskhistory import service as history
from pooldesk.backend.workers import spec as worker_spec
from pooldesk.backend.workers.manager import WorkerError, WorkerManager
from pooldesk.backend.workers.resources import TreeSampler
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.states import WorkerState

#: A period no real billing uses: its invoices are deleted before each run and at the end.
PERIOD = "2000-01"
CUSTOMERS = 6_000  # at scale 1; the chunk size scales too, so there are always 12 chunks
CHUNK = 500
URLS = 1_000
DELAY_MS = 200
GEVENT_SLOTS = {INVOICES: 20, MONITORING: 200}
POOLS = ("gevent", "prefork")  # in this order: the serial run first, as the story tells it
ORCH = WorkerSpec("cs-orch", "prefork", 1, ("orchestration",))
START_TIMEOUT_S = 60.0
STALL_S = 30.0  # no child ended for this long: the rest are stuck (see CaseStudyReport)
CANCEL_WAIT_S = 30.0
PROGRESS_EVERY_S = 5.0

Progress = Callable[[str], None]


class CaseStudyError(RuntimeError):
    """The case study could not be carried out (a worker did not start, a batch never ended)."""


@dataclass
class _Ctx:
    manager: WorkerManager
    service: BatchService
    say: Progress
    started: list[str]  # workers this run spawned, to stop in ``finally``


def run_case_study(
    scale: float = 1.0, cores: int | None = None, progress: Progress | None = None
) -> CaseStudyReport:
    """Seed, run the four (scenario, pool) batches, measure each, clean up; see the module doc.

    ``scale`` shrinks the workload (1.0 = 6,000 invoices in 12 chunks and 1,000 URLs);
    ``cores`` is the prefork concurrency (default: this machine's cores).
    """
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be > 0 and <= 1, got {scale!r}")
    cores = cores or worker_spec.cores()
    WorkerSpec("cs-prefork", "prefork", cores).validate()  # a bad --cores starts nothing
    config = ensure_broker()
    ctx = _Ctx(
        WorkerManager(config=config, stop_timeout=30),
        BatchService(config),
        progress or (lambda _message: None),
        [],
    )
    report = CaseStudyReport(scale=scale, cores=cores, delay_ms=DELAY_MS)
    engine = make_engine()
    recording = {r.key for r in history.recorders() if r.running}
    try:
        _spawn(ctx, ORCH)
        customers, chunk = round(CUSTOMERS * scale), max(1, round(CHUNK * scale))
        ctx.say(f"seeding {customers:,} demo customers for period {PERIOD} (idempotent)")
        seed(engine, customers, periods=[PERIOD])
        ctx.say(f"starting the test server ({DELAY_MS} ms per request)")
        with TestServer(DELAY_MS) as server:
            count = round(URLS * scale)
            urls = tuple(f"{server.base_url}/slow?ms={DELAY_MS}&n={i}" for i in range(count))
            invoices = InvoiceParams(PERIOD, customers, chunk)
            previous: str | None = None
            for step in _plan(ctx, cores, invoices, MonitorParams(urls=urls, timeout=10.0)):
                _spawn(ctx, step.spec)
                if previous:  # idle since its batch ended; it stops while the new one boots
                    _stop(ctx, previous)
                previous = step.spec.name
                if step.scenario == INVOICES:
                    _clear_period(engine)  # both runs bill every customer for real
                report.runs.append(_measure(ctx, step))
        _clear_period(engine)
    finally:
        for name in list(reversed(ctx.started)):
            _stop(ctx, name)
        _purge(ctx, [_queue(sc, pool) for sc in (INVOICES, MONITORING) for pool in POOLS])
        ctx.service.close()
        ctx.manager.close()
        # Its workers brought up a task-history recorder: stop it unless it ran before (then
        # it serves the user's own workers and stays).
        for recorder in history.recorders():
            if recorder.running and recorder.key not in recording:
                with contextlib.suppress(Exception):
                    history.stop_recorder(recorder.key, timeout=5)
    return report


@dataclass(frozen=True)
class _Step:
    scenario: str
    spec: WorkerSpec
    items: int
    launch: Callable[[], BatchRecord]


def _plan(ctx: _Ctx, cores: int, invoices: InvoiceParams, checks: MonitorParams) -> list[_Step]:
    """Gevent first, then prefork, for each scenario; each on a queue only its worker reads."""
    steps = []
    for scenario in (INVOICES, MONITORING):
        for pool, slots in zip(POOLS, (GEVENT_SLOTS[scenario], cores), strict=True):
            queue = _queue(scenario, pool)
            spec = WorkerSpec(f"cs-{scenario}-{pool}", pool, slots, (queue,))
            if scenario == INVOICES:
                bill = replace(invoices, queue=queue)
                launch = partial(ctx.service.launch_invoices, bill)
                steps.append(_Step(scenario, spec, bill.customers or 0, launch))
            else:
                check = replace(checks, queue=queue)
                launch = partial(ctx.service.launch_monitoring, check)
                steps.append(_Step(scenario, spec, len(check.urls), launch))
    return steps


def _queue(scenario: str, pool: str) -> str:
    return f"casestudy.{scenario}.{pool}"


def _measure(ctx: _Ctx, step: _Step) -> Run:
    """One worker, one batch: CPU seconds of its tree before and after, USS peak during."""
    scenario, items, pool, slots = step.scenario, step.items, step.spec.pool, step.spec.concurrency
    _ready(ctx, ORCH.name)  # started first, in parallel with this one; instant after the first
    pid = _ready(ctx, step.spec.name)
    sampler = TreeSampler()
    before = sampler.sample(pid)
    ctx.say(f"{scenario} on {pool} -c {slots}: {items:,} items")
    with PeakUss(pid) as peak:
        began = time.monotonic()
        record = _follow(ctx, step.launch(), _timeout(scenario, items, pool, slots))
        own_wall = time.monotonic() - began
    after = sampler.sample(pid)
    summary = record.summary or {}
    if record.state not in ("completed", "completed_with_failures", "cancelled") or not summary:
        raise CaseStudyError(f"{scenario} batch {record.id[:12]} ended {record.state}")
    rows = ctx.service.children(record)  # one per chunk, or per URL
    ids = list(dict.fromkeys(str(c["id"]) for c in rows))
    end = last_done(ctx.service.app, ids)
    wall = float(summary["wall_seconds"])
    work = end - float(summary["started_at"]) if end else wall
    cpu = (after.cpu_seconds - before.cpu_seconds) if after and before else 0.0
    ctx.say(f"{scenario} on {pool}: done in {work:.2f} s, {cpu:.1f} CPU seconds")
    return Run(
        scenario=scenario,
        pool=pool,
        concurrency=slots,
        items=items,
        children=len(rows),
        wall_s=round(wall, 3),
        work_s=round(work, 3),
        own_wall_s=round(own_wall, 3),
        cpu_s=round(cpu, 2),
        cores_used=round(cpu / work, 2) if work > 0 else 0.0,
        peak_uss_bytes=peak.peak,
        ok=int(summary.get("ok", 0)),
        failed=int(summary.get("failed", 0)),
        stuck=int(summary.get("cancelled", 0)),
        batch_id=record.id,
    )


def _timeout(scenario: str, items: int, pool: str, slots: int) -> float:
    """Generous bounds: gevent invoices are serial (6-7 ms each here); prefork checks 0.2 s/slot."""
    if scenario == INVOICES:
        return 120 + items * 0.05
    return 120 + items * DELAY_MS / 1000 / (slots if pool == "prefork" else 1) * 3


def _follow(ctx: _Ctx, launched: BatchRecord, timeout: float) -> BatchRecord:
    """Poll until final. A batch whose children stop ending for ``STALL_S`` (or that outlives
    ``timeout``) has its stuck children cancelled, so the run is reported, not hung on."""
    record, began = launched, time.monotonic()
    last_change = last_said = began
    ended = -1
    while not record.final:
        now, c = time.monotonic(), record.counts
        done = c.get("succeeded", 0) + c.get("failed", 0) + c.get("cancelled", 0)
        if done != ended:
            ended, last_change = done, now
        if now - last_said >= PROGRESS_EVERY_S:
            ctx.say(f"  {done}/{c.get('total', '?')} children ended")
            last_said = now
        if now - began > timeout or (c.get("total") and now - last_change > STALL_S):
            return _cancel_stuck(ctx, record, now - last_change)
        time.sleep(0.2)
        record = ctx.service.refresh(record)
    return record


def _cancel_stuck(ctx: _Ctx, record: BatchRecord, idle: float) -> BatchRecord:
    left = record.counts.get("total", 0) - record.counts.get("succeeded", 0)
    left -= record.counts.get("failed", 0)
    ctx.say(f"  no child ended for {idle:.0f} s: cancelling the {left} still waiting")
    ctx.service.cancel(record.id, terminate=True)
    for update in ctx.service.wait(record.id, poll=0.2, timeout=CANCEL_WAIT_S):
        record = update
    if not record.final:
        raise CaseStudyError(f"batch {record.id[:12]} did not end after being cancelled")
    return record


def _spawn(ctx: _Ctx, spec: WorkerSpec) -> None:
    ctx.say(f"starting worker {spec.name} ({spec.pool} -c {spec.concurrency}, {spec.queues[0]})")
    ctx.manager.start(spec, wait=False)  # raises before spawning if the name is taken
    ctx.started.append(spec.name)


def _ready(ctx: _Ctx, name: str) -> int:
    info = ctx.manager.wait_ready(name, START_TIMEOUT_S)
    if info.state != WorkerState.ONLINE or info.pid is None:
        last = (info.last_log or ["(no log)"])[-1]
        raise CaseStudyError(f"worker {name} is {info.state}, not online: {last}")
    return info.pid


def _stop(ctx: _Ctx, name: str) -> None:
    """Warm, like any stop; the batch has ended, so there is no task to wait for."""
    if name not in ctx.started:
        return
    ctx.started.remove(name)
    ctx.say(f"stopping worker {name}")
    try:
        info = ctx.manager.stop(name, timeout=10)
        if info.state == WorkerState.STOPPED:
            ctx.manager.forget(name)
    except WorkerError as exc:
        ctx.say(f"could not stop {name}: {exc}")


def _purge(ctx: _Ctx, queues: list[str]) -> None:
    """Best effort: drop what is left in the case study's queues (redelivered duplicates, the
    rest of a cancelled batch), so nothing of it lingers on the user's broker."""
    try:
        with ctx.service.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)  # a broker that went away: give up, not hang
            channel = conn.default_channel
            for queue in queues:
                channel.queue_purge(queue)
    except Exception as exc:  # cleanup must not hide the report or the error being raised
        ctx.say(f"could not purge the case-study queues: {exc}")


def _clear_period(engine: Engine) -> None:
    """Forget the case study's invoices (rows and PDFs) so the next run bills everyone again."""
    with engine.begin() as conn:
        conn.execute(delete(Invoice).where(Invoice.period == PERIOD))
    shutil.rmtree(invoices_dir() / PERIOD, ignore_errors=True)
