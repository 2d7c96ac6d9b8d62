"""Batches at scale: a Pooldesk batch beside a plain Celery ``group`` of the same work.

Run: ``.venv/bin/python bench/batch_scale.py [--urls 1000,10000,100000] [--invoices 6000,60000]
[--project 1000,10000,100000] [--single-max 1000] [--no-ideal] [--no-window] [--pooldesk-only]
[--json]``. The defaults
(1,000 URLs, 6,000 invoices, the 200 ms run) take about five minutes; the full sizes about an
hour on a busy machine.

In a throwaway ``POOLDESK_HOME`` with the managed broker: an ``orchestration`` worker (prefork
-c 1: the parents and watchers, and nothing else, so its CPU *is* the watcher's cost), a
``monitoring`` worker (gevent -c 200) and an ``invoices`` worker (prefork -c 2), started as
Pooldesk starts them. URLs point at the loopback test server (a separate process) answering at
once; ``--ideal`` adds 1,000 URLs answering after 200 ms (the ideal wall is 1.0 s if 1,000
checks overlapped completely; the goal is ≤ 1.3×).

For every size, one after another on the same workers:

* **pooldesk** — ``BatchService.launch_monitoring`` / ``launch_invoices`` followed as the panel
  does (one refresh every 0.5 s), with the real window (offscreen, a child process) open on the
  Batches page and selecting the batch, as a person following it would;
* **group, same tasks** — ``group()`` of the very tasks the batch sends (the same URL chunks or
  invoice chunks), what a user could write by hand, waited for by polling its results;
* **project task** — a project's own task sent by ``batch run``'s path (``project_batch``):
  Pooldesk sends the calls and follows them (no watcher task; its "watcher" columns are the
  follower's CPU in this process), beside a group of the same calls;
* **group, 1 URL/task** — what a user writes without chunking: one check task per URL (only up
  to ``--single-max`` URLs: at ≈ 110 tasks/s here, 100,000 would take a quarter of an hour).

Columns: wall (launch → every child ended, as the caller sees it), the orchestration worker's
CPU per child and per item (the watcher; 0 for a group, which has none), the workers' CPU per
item (checks or invoices), the broker's peak ``used_memory`` during the run, and the window's
peak RSS while following the batch. The machine is shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from _common import (
    Peaks,
    bench_home,
    open_window,
    show_page,
    stop_process,
    text_table,
    tree_cpu,
)

PERIODS = ["2026-01", "2026-02"]  # the batch bills one, the group the other: no skipped work
POLL_S = 0.5


# -- the window (child process) -------------------------------------------------------------
def window_child() -> int:
    """The real main window, offscreen, on the Batches page, following the newest batch."""
    from PySide6.QtCore import QTimer

    app, window = open_window()
    window.show()
    show_page(window, "Batches")

    def follow() -> None:
        records = window.batches_page.model.records()
        selected = window.batches_page.selected_batch()
        if records and (selected is None or selected.id != records[0].id):
            window.batches_page.select(records[0].id)

    timer = QTimer()
    timer.timeout.connect(follow)
    timer.start(1000)
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    poke = QTimer()  # lets Python see SIGTERM while Qt's loop runs
    poke.timeout.connect(lambda: None)
    poke.start(200)
    app.exec()
    window.close()
    return 0


# -- measuring -------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[dict[str, Any]] = []
        self.window: subprocess.Popen[bytes] | None = None
        self.scenario = ""

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def setup(self) -> None:
        from pooldesk.backend.batches.service import BatchService
        from pooldesk.backend.broker import ensure_broker
        from pooldesk.backend.celery_app import make_app
        from pooldesk.backend.workers.manager import WorkerManager
        from pooldesk.backend.workers.spec import WorkerSpec

        self.config = ensure_broker()
        self.manager = WorkerManager(config=self.config, stop_timeout=20)
        self.workers = {
            "orch": WorkerSpec("orch", "prefork", 1, ("orchestration",)),
            "mon": WorkerSpec("mon", "gevent", 200, ("monitoring",)),
            "inv": WorkerSpec("inv", "prefork", 2, ("invoices",)),
        }
        for spec in self.workers.values():
            self.manager.start(spec)
        self.pids = {n: self.manager.wait_ready(n, 120).pid or 0 for n in self.workers}
        self.service = BatchService(self.config)
        self.app = make_app(self.config.broker_url, self.config.result_backend, include=[])
        self.redis = self.app.backend.client
        if not self.args.no_window:
            argv = [sys.executable, __file__, "--window-child"]
            self.window = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def close(self) -> None:
        stop_process(self.window)
        for name in getattr(self, "workers", {}):
            try:
                self.manager.stop(name, cold=True, timeout=5)
            except Exception as exc:
                self.say(f"stopping {name}: {exc}")

    def _cpu(self) -> dict[str, float]:
        cpu = {n: tree_cpu(pid) for n, pid in self.pids.items()}
        cpu["window"] = tree_cpu(self.window.pid) if self.window else 0.0
        return cpu

    def _measure(
        self, label: str, kind: str, items: int, run: Any, scenario: str = ""
    ) -> dict[str, Any]:
        """``run()`` returns (children, wall s); CPU and peaks are taken around it."""
        window = self.window.pid if (self.window and label == "pooldesk") else None
        self.redis.execute_command("MEMORY", "PURGE")
        before = self._cpu()
        with Peaks(self.redis, window) as peaks:
            children, wall = run()
        time.sleep(1.5)  # the last results and events settle before the CPU is read
        after = self._cpu()
        cpu = {n: after[n] - before[n] for n in after}
        work = cpu["inv"] if kind == "invoices" else cpu["mon"]
        row = {
            "scenario": scenario or self.scenario,
            "kind": kind,
            "items": items,
            "how": label,
            "children": children,
            "wall_s": round(wall, 2),
            "watcher_cpu_s": round(cpu["orch"], 3) if label == "pooldesk" else None,
            "watcher_ms_per_child": (
                round(cpu["orch"] / children * 1000, 3) if label == "pooldesk" else None
            ),
            "watcher_ms_per_item": (
                round(cpu["orch"] / items * 1000, 4) if label == "pooldesk" else None
            ),
            "worker_ms_per_item": round(work / items * 1000, 3),
            "broker_peak_mib": round(peaks.broker / 2**20, 1),
            "window_peak_rss_mib": round(peaks.window / 2**20, 1) if window else None,
            "window_cpu_s": round(cpu["window"], 2) if self.window else None,
        }
        self.say(f"  {row}")
        self.rows.append(row)
        return row

    # -- the two ways ------------------------------------------------------------------------
    def pooldesk(self, launch: Any, timeout: float) -> tuple[int, float]:
        began = time.monotonic()
        record = launch()
        while not record.final and time.monotonic() - began < timeout:
            time.sleep(POLL_S)
            record = self.service.refresh(record)
        wall = time.monotonic() - began
        if not record.final:
            raise RuntimeError(f"batch {record.id[:12]} not done after {timeout:.0f} s")
        summary = record.summary or {}
        if summary.get("failed") or summary.get("cancelled"):
            raise RuntimeError(f"batch {record.id[:12]} had failures: {summary}")
        return int(summary.get("children_total", 0)), wall

    def group(self, name: str, arglists: list[list[Any]], queue: str, timeout: float) -> float:
        from celery import group

        from pooldesk.backend.batches.children import fetch_states

        sig = self.app.signature(name, queue=queue)
        began = time.monotonic()
        result = group(sig.clone(args=tuple(a)) for a in arglists).apply_async()
        ids = [r.id for r in result.results]
        open_ids = ids
        every = max(POLL_S, len(ids) / 20_000)
        while open_ids and time.monotonic() - began < timeout:
            time.sleep(every)
            states = fetch_states(self.app, open_ids)
            open_ids = [i for i in open_ids if states[i].state not in ("SUCCESS", "FAILURE")]
        if open_ids:
            raise RuntimeError(f"group: {len(open_ids)} of {len(ids)} not done after {timeout} s")
        return time.monotonic() - began

    # -- scenarios ---------------------------------------------------------------------------
    def warm_up(self, base: str) -> None:
        """One small unmeasured batch: workers import, connect and fill their pools first."""
        from pooldesk.backend.batches.params import MonitorParams

        urls = tuple(f"{base}/ok?warm={i}" for i in range(200))
        self.pooldesk(lambda: self.service.launch_monitoring(MonitorParams(urls=urls)), 120)

    def monitoring(self, n: int, base: str, tag: str, path: str = "/ok") -> None:
        from pooldesk.backend.batches.params import MonitorParams
        from pooldesk.backend.batches.plan import monitoring_children

        urls = [f"{base}{path}?{tag}={i}" for i in range(n)]
        self.scenario = "monitoring 200 ms" if path == "/slow" else "monitoring 0 ms"
        timeout = 120 + n * 0.05
        self.say(f"monitoring {n:,} URLs ({tag})")
        params = MonitorParams(urls=tuple(urls), timeout=10.0)
        self._measure(
            "pooldesk",
            "monitoring",
            n,
            lambda: self.pooldesk(lambda: self.service.launch_monitoring(params), timeout),
        )
        if self.args.pooldesk_only:
            return
        children, _ = monitoring_children("g" + tag, urls, 10.0, None)
        args = [c["args"] for c in children]
        self._measure(
            "group, same tasks",
            "monitoring",
            n,
            lambda: (
                len(args),
                self.group("pooldesk.monitoring.check_urls", args, "monitoring", timeout),
            ),
        )
        if n <= self.args.single_max:
            single = [["g1" + tag, i, u, 10.0] for i, u in enumerate(urls)]
            self._measure(
                "group, 1 URL/task",
                "monitoring",
                n,
                lambda: (
                    n,
                    self.group("pooldesk.monitoring.check", single, "monitoring", timeout * 4),
                ),
            )

    def invoices(self, n: int) -> None:
        from sqlalchemy import select

        from pooldesk.backend.batches.params import InvoiceParams
        from pooldesk.backend.batches.plan import invoice_children
        from pooldesk.backend.invoices.db import Customer, make_engine

        self.say(f"invoices for {n:,} customers")
        self.scenario = "invoices"
        timeout = 300 + n * 0.05
        params = InvoiceParams(period=PERIODS[0], customers=n, chunk_size=500)
        self._measure(
            "pooldesk",
            "invoices",
            n,
            lambda: self.pooldesk(lambda: self.service.launch_invoices(params), timeout),
        )
        if self.args.pooldesk_only:
            return
        with make_engine().connect() as conn:
            ids = list(conn.scalars(select(Customer.id).order_by(Customer.id).limit(n)))
        args = [c["args"] for c in invoice_children("ginv", ids, 500, PERIODS[1])]
        self._measure(
            "group, same tasks",
            "invoices",
            n,
            lambda: (len(args), self.group("pooldesk.invoices.chunk", args, "invoices", timeout)),
        )

    # -- a project's own task (backend/batches/project_batch.py) -----------------------------
    def project_setup(self) -> None:
        """A project whose app is Pooldesk's own (its tasks, on the managed broker): its batches
        go through ``batch run``'s path — Pooldesk sends and follows, no watcher task."""
        from pooldesk.backend.projects.check import run_check
        from pooldesk.backend.projects.model import Project
        from pooldesk.backend.projects.store import ProjectStore

        spec = Project(
            name="bench",
            python=sys.executable,
            workdir=os.getcwd(),
            app="pooldesk.backend.celery_app:app",
            managed_broker=True,
        )
        store = ProjectStore()
        store.add(spec, replace=True)
        store.save_check("bench", run_check(spec))

    def project_task(self, n: int) -> None:
        """``pooldesk.sleep(0)`` × n on the gevent worker, one call per item: a project batch
        (launch + follow with a refresh every 0.5 s, as ``--wait`` does) beside a plain group of
        the same calls. The follower's CPU is this process's, during the follow only."""
        from pooldesk.backend.batches.items import Item, Items
        from pooldesk.backend.batches.project_plan import make_plan

        self.say(f"project task: {n:,} items")
        self.scenario = "project task (sleep 0)"
        timeout = 600 + n * 0.2  # ≈ 100 calls/s on one gevent process; slower on a busy machine
        items = Items(source="bench", values=tuple(Item(args=(0,)) for _ in range(n)))
        plan = make_plan("bench", "pooldesk.sleep", items, None, "monitoring")
        follow_cpu = [0.0, 0.0]  # following, sending

        def run() -> tuple[int, float]:
            projects = self.service.projects
            began = time.monotonic()
            cpu0 = time.process_time()
            record = projects.launch(plan)
            follow_cpu[1] = time.process_time() - cpu0
            cpu0 = time.process_time()
            while not record.final and time.monotonic() - began < timeout:
                time.sleep(POLL_S)
                record = projects.refresh(record)
            follow_cpu[0] = time.process_time() - cpu0
            if record.state != "completed":
                raise RuntimeError(f"project batch {record.id[:12]}: {record.state}")
            return n, time.monotonic() - began

        row = self._measure("pooldesk", "project", n, run)
        row["watcher_cpu_s"] = round(follow_cpu[0], 3)
        row["watcher_ms_per_child"] = round(follow_cpu[0] / n * 1000, 3)
        row["watcher_ms_per_item"] = round(follow_cpu[0] / n * 1000, 4)
        row["send_ms_per_child"] = round(follow_cpu[1] / n * 1000, 3)
        self.say(
            f"  follower {row['watcher_ms_per_child']} ms/child, "
            f"sending {row['send_ms_per_child']} ms/child (this process's CPU)"
        )
        if self.args.pooldesk_only:
            return
        self._measure(
            "group, same tasks",
            "project",
            n,
            lambda: (n, self.group("pooldesk.sleep", [[0]] * n, "monitoring", timeout)),
        )


def table(rows: list[dict[str, Any]]) -> str:
    head = [
        "scenario",
        "items",
        "how",
        "tasks",
        "wall s",
        "× group",
        "watcher ms/task",
        "watcher ms/item",
        "worker ms/item",
        "broker peak MiB",
        "window RSS MiB",
        "window CPU s",
    ]
    out = [head]
    group_wall = {
        (r["scenario"], r["items"]): r["wall_s"] for r in rows if r["how"] == "group, same tasks"
    }
    for r in rows:
        ref = group_wall.get((r["scenario"], r["items"]))
        ratio = f"{r['wall_s'] / ref:.2f}" if ref and r["how"] != "group, same tasks" else ""
        out.append(
            [
                r["scenario"],
                f"{r['items']:,}",
                r["how"],
                f"{r['children']:,}",
                f"{r['wall_s']:.2f}",
                ratio,
                "" if r["watcher_ms_per_child"] is None else f"{r['watcher_ms_per_child']:.2f}",
                "" if r["watcher_ms_per_item"] is None else f"{r['watcher_ms_per_item']:.3f}",
                f"{r['worker_ms_per_item']:.2f}",
                f"{r['broker_peak_mib']:.1f}",
                "" if r["window_peak_rss_mib"] is None else f"{r['window_peak_rss_mib']:.0f}",
                "" if r.get("window_cpu_s") is None else f"{r['window_cpu_s']:.1f}",
            ]
        )
    return text_table(out)


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()] if text else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", default="1000", help="monitoring sizes, comma-separated")
    parser.add_argument("--invoices", default="6000", help="invoice sizes (customers)")
    parser.add_argument(
        "--single-max", type=int, default=1_000, help="largest size also run as one task per URL"
    )
    parser.add_argument("--project", default="1000", help="project-task sizes (items; '' to skip)")
    parser.add_argument("--no-ideal", action="store_true", help="skip 1,000 × 200 ms checks")
    parser.add_argument("--no-window", action="store_true", help="don't open the window")
    parser.add_argument(
        "--pooldesk-only", action="store_true", help="skip the plain groups (window figures)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--window-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.window_child:
        return window_child()

    load = os.getloadavg()
    bench = Bench(args)
    with bench_home("pooldesk-scale-"), contextlib.ExitStack() as closing:
        closing.callback(bench.close)  # the workers and the window, before the broker
        from pooldesk.backend.casestudy.measure import TestServer
        from pooldesk.backend.invoices.db import make_engine
        from pooldesk.backend.invoices.seed import seed

        invoice_sizes = _sizes(args.invoices)
        if invoice_sizes:
            bench.say(f"seeding {max(invoice_sizes):,} customers")
            seed(make_engine(), max(invoice_sizes), periods=PERIODS)
        bench.setup()
        time.sleep(5)  # the window settles (imports, first paint) before anything is measured
        with TestServer(delay_ms=0) as fast:
            bench.warm_up(fast.base_url)
            for n in _sizes(args.urls):
                bench.monitoring(n, fast.base_url, f"s{n}")
        if not args.no_ideal:
            with TestServer(delay_ms=200) as slow:
                bench.monitoring(1000, slow.base_url, "ideal", path="/slow")
        for n in invoice_sizes:
            bench.invoices(n)
        if _sizes(args.project):
            bench.project_setup()
            for n in _sizes(args.project):
                bench.project_task(n)
    after = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": bench.rows, "load_before": load, "load_after": after}, indent=2))
    else:
        print(table(bench.rows))
        print(
            f"load average before {load[0]:.2f} {load[1]:.2f}, after {after[0]:.2f} {after[1]:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
