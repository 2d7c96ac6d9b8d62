"""Soak: invoice batches run for N minutes while a seeded chaos loop kills what ops machines kill.

    .venv/bin/python bench/soak.py --minutes 30 --seed 7

In a throwaway home (managed broker, SQLite invoices, two workers: ``inv`` prefork 2 on
``invoices``, ``orch`` prefork 1 on ``orchestration``), up to :data:`IN_FLIGHT` invoice batches
run at once, each billing every customer for a period of its own (so an invoice lost or doubled
is seen per batch). Meanwhile a chaos loop, seeded (``--seed``; printed), every 5–20 s does one
of: ``kill -9`` the managed redis-server (started again 1–5 s later, as the next command would),
``broker stop`` / 5 s / ``broker start``, SIGKILL a worker's Celery main process, a pool
process, a worker's supervisor, or the task-history recorder. Between faults an "operator" loop
starts again a worker that is crashed or stopped (what a person would do; counted).

Printed at the end: batches, items (invoices) processed, duplicates (rows beyond one per
customer and period; the table's unique index should make it 0), lost (customers without their
invoice once the batch ended, after one retry of its failed chunks), stuck (batches that made no
progress for :data:`STUCK_S` s), the longest stall (seconds a running batch's ended count did
not move), and the faults injected. ``--json`` prints the same as one object.

The machine is shared: timings are noisy, counts are not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from _common import bench_home, text_table

IN_FLIGHT = 2
STUCK_S = 300.0  # a third of the 900-s visibility timeout: a batch stranded on it is caught
LONG_STALL_S = 45.0  # noted with its end time, to set beside the faults printed as they happen
CUSTOMERS = 300
CHUNK = 25
WORKERS = (("inv", "prefork", 2, ("invoices",)), ("orch", "prefork", 1, ("orchestration",)))
FAULTS = (
    "broker-kill",
    "broker-restart",
    "worker-kill",
    "pool-kill",
    "supervisor-kill",
    "recorder-kill",
)


@dataclass
class Tracked:
    id: str
    period: str
    launched: float
    ended: int = -1
    moved_at: float = 0.0
    longest_stall: float = 0.0
    retried: bool = False
    stuck: bool = False


@dataclass
class Report:
    seed: int
    minutes: float
    batches: int = 0
    completed: int = 0
    items: int = 0
    duplicates: int = 0
    lost: int = 0
    stuck: int = 0
    longest_stall_s: float = 0.0
    retries: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    operator_restarts: int = 0
    notes: list[str] = field(default_factory=list)


def _period(i: int) -> str:
    """The ``i``-th batch's period (each batch bills a period of its own)."""
    return f"{2000 + i // 12}-{i % 12 + 1:02d}"


def _invoices(period: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from pooldesk.backend.invoices.db import Invoice, make_engine

    with make_engine().connect() as conn:
        total = conn.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.period == period)
        )
        distinct = conn.scalar(
            select(func.count(func.distinct(Invoice.customer_id))).where(Invoice.period == period)
        )
    return int(total or 0), int(distinct or 0)


class Chaos(threading.Thread):
    def __init__(self, rng: random.Random, manager: Any, report: Report, stop: threading.Event):
        super().__init__(name="chaos", daemon=True)
        self.rng, self.manager, self.report, self.stopping = rng, manager, report, stop
        self.lock = threading.Lock()  # the operator does not restart workers mid-fault

    def run(self) -> None:
        while not self.stopping.wait(self.rng.uniform(5, 20)):
            fault = self.rng.choice(FAULTS)
            with self.lock:
                try:
                    done = getattr(self, fault.replace("-", "_"))()
                except Exception as exc:
                    self.report.notes.append(f"{fault}: {type(exc).__name__}: {exc}")
                    done = False
            if done:
                self.report.faults[fault] = self.report.faults.get(fault, 0) + 1
                print(f"[{time.strftime('%T')}] chaos: {fault}", file=sys.stderr)

    def broker_kill(self) -> bool:
        from pooldesk.backend.broker.managed import ManagedBroker

        broker = ManagedBroker()
        state = broker.running_state()
        if state is None or not state.pid:
            return False
        os.kill(state.pid, signal.SIGKILL)
        time.sleep(self.rng.uniform(1, 5))
        broker.start()
        return True

    def broker_restart(self) -> bool:
        from pooldesk.backend.broker.managed import ManagedBroker

        broker = ManagedBroker()
        broker.stop()
        time.sleep(5)
        broker.start()
        return True

    def _pid(self, name: str) -> int | None:
        info = self.manager.info(name, ping=False)
        return info.pid if info.state == "online" else None

    def worker_kill(self) -> bool:
        pid = self._pid(self.rng.choice(WORKERS)[0])
        if pid:
            os.kill(pid, signal.SIGKILL)
        return bool(pid)

    def pool_kill(self) -> bool:
        import psutil

        pid = self._pid(self.rng.choice(WORKERS)[0])
        children = psutil.Process(pid).children() if pid else []
        if children:
            os.kill(self.rng.choice(children).pid, signal.SIGKILL)
        return bool(children)

    def supervisor_kill(self) -> bool:
        record = self.manager.store.load(self.rng.choice(WORKERS)[0])
        pid = getattr(record, "supervisor_pid", None)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return bool(pid)

    def recorder_kill(self) -> bool:
        from pooldesk.backend.taskhistory import service

        pids = [r.recorder_pid for r in service.recorders() if r.running and r.recorder_pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return bool(pids)


def operate(manager: Any, chaos: Chaos, report: Report) -> None:
    """What a person would do: start a worker that is not running (no spec change)."""
    from pooldesk.backend.workers.spec import WorkerSpec

    for name, pool, conc, queues in WORKERS:
        with chaos.lock:
            try:
                info = manager.info(name, ping=False)
                if info.state in ("crashed", "stopped", "fatal", "unknown"):
                    manager.start(WorkerSpec(name, pool, conc, queues))
                    report.operator_restarts += 1
                    print(
                        f"[{time.strftime('%T')}] operator: started {name} ({info.state})",
                        file=sys.stderr,
                    )
            except Exception as exc:
                report.notes.append(f"operator {name}: {type(exc).__name__}: {exc}")


def soak(minutes: float, seed: int, customers: int, chunk: int) -> Report:
    from pooldesk.backend.batches.params import InvoiceParams
    from pooldesk.backend.batches.service import BatchService
    from pooldesk.backend.broker import ensure_broker
    from pooldesk.backend.invoices.db import make_engine
    from pooldesk.backend.invoices.seed import seed as seed_db
    from pooldesk.backend.workers.manager import WorkerManager
    from pooldesk.backend.workers.spec import WorkerSpec

    report = Report(seed=seed, minutes=minutes)
    rng = random.Random(seed)
    config = ensure_broker()
    seed_db(make_engine(), customers, periods=[_period(i) for i in range(10)])
    seeded = 10
    manager = WorkerManager(config=config, stop_timeout=20)
    for name, pool, conc, queues in WORKERS:
        manager.start(WorkerSpec(name, pool, conc, queues))
    service = BatchService(config)
    stop = threading.Event()
    chaos = Chaos(rng, manager, report, stop)
    chaos.start()
    running: list[Tracked] = []
    deadline = time.monotonic() + minutes * 60
    try:
        while time.monotonic() < deadline or running:
            now = time.monotonic()
            if now < deadline and len(running) < IN_FLIGHT:
                period = _period(report.batches)
                if report.batches >= seeded:
                    more = [_period(i) for i in range(seeded, seeded + 10)]
                    seed_db(make_engine(), customers, periods=more)
                    seeded += 10
                try:
                    record = service.launch_invoices(
                        InvoiceParams(period=period, customers=customers, chunk_size=chunk)
                    )
                except Exception as exc:  # the broker is down this very moment
                    report.notes.append(f"launch: {type(exc).__name__}")
                    time.sleep(1)
                    continue
                report.batches += 1
                running.append(Tracked(record.id, period, now, moved_at=now))
            for t in list(running):
                _follow(service, t, report, now)
                if t.id not in {r.id for r in running}:
                    continue
            running[:] = [t for t in running if not getattr(t, "_done", False)]
            if now > deadline:
                stop.set()  # the faults stop; the batches in flight finish (or are stuck)
                if all(t.stuck for t in running):
                    break  # every batch left is stuck (counted in _follow)
            operate(manager, chaos, report)
            time.sleep(1)
    finally:
        stop.set()
        chaos.join(60)
        service.close()
        for name, *_ in WORKERS:
            with contextlib.suppress(Exception):
                manager.stop(name, timeout=20)
        manager.close()
    return report


def _follow(service: Any, t: Tracked, report: Report, now: float) -> None:
    try:
        record = service.get(t.id)
    except Exception:
        return
    c = record.counts
    ended = c.get("succeeded", 0) + c.get("failed", 0) + c.get("cancelled", 0)
    if ended != t.ended:
        if now - t.moved_at > LONG_STALL_S:
            report.notes.append(
                f"stall {now - t.moved_at:.0f} s: {t.id[:12]} {record.state} at {t.ended}, "
                f"until {time.strftime('%T')}"
            )
        t.ended, t.moved_at = ended, now
    stall = now - t.moved_at
    t.longest_stall = max(t.longest_stall, stall)
    report.longest_stall_s = max(report.longest_stall_s, round(stall, 1))
    if stall > STUCK_S and not t.stuck:
        t.stuck = True
        report.stuck += 1
        report.notes.append(f"stuck: {t.id[:12]} at {record.state} {c}")
    if not record.final:
        return
    if record.state == "completed_with_failures" and not t.retried:
        t.retried = True  # what a person does with failed chunks: retry them, once
        report.retries += 1
        try:
            service.retry(t.id)
            t.moved_at = now
            return
        except Exception as exc:
            report.notes.append(f"retry {t.id[:12]}: {exc}")
    total, distinct = _invoices(t.period)
    report.items += distinct
    report.duplicates += total - distinct
    report.lost += max(0, CUSTOMERS_RUN[0] - distinct)
    report.completed += record.state == "completed"
    print(
        f"[{time.strftime('%T')}] batch {t.id[:12]} {record.state}: {distinct}/{CUSTOMERS_RUN[0]}"
        f" invoices, {now - t.launched:.0f} s",
        file=sys.stderr,
    )
    if record.state != "completed":
        report.notes.append(f"{t.id[:12]} ended {record.state}: {record.error or ''}")
    t._done = True  # type: ignore[attr-defined]


CUSTOMERS_RUN = [CUSTOMERS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--chunk-size", type=int, default=CHUNK)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10_000)
    CUSTOMERS_RUN[0] = args.customers
    print(f"soak: {args.minutes} min, seed {seed}", file=sys.stderr)
    with bench_home("pooldesk-soak-"):
        report = soak(args.minutes, seed, args.customers, args.chunk_size)
    if args.json:
        print(json.dumps(report.__dict__, indent=2))
        return 0
    rows = [
        ["seed", str(report.seed)],
        ["minutes", f"{report.minutes:g}"],
        ["batches", f"{report.batches} ({report.completed} completed, {report.retries} retried)"],
        ["items processed (invoices)", str(report.items)],
        ["duplicates", str(report.duplicates)],
        ["lost", str(report.lost)],
        ["stuck batches", str(report.stuck)],
        ["longest stall", f"{report.longest_stall_s:.1f} s"],
        ["faults", ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items())) or "none"],
        ["operator restarts", str(report.operator_restarts)],
    ]
    print(text_table([["", ""], *rows]))
    for note in report.notes:
        print(f"  note: {note}")
    return 0 if not (report.lost or report.duplicates or report.stuck) else 1


if __name__ == "__main__":
    sys.exit(main())
