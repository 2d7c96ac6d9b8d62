"""Is the window responsive while real work runs? First paint, and GUI-thread stalls.

Run: ``.venv/bin/python bench/gui_responsiveness.py [--seconds 60] [--urls 500] [--workers 8]``

The scene (``desktop/scene.py``) builds a throwaway ``POOLDESK_HOME`` with the embedded managed
broker (``POOLDESK_BROKER_URL``, ``POOLDESK_RESULT_BACKEND``, ``POOLDESK_INVOICE_DB`` and
``CELERY_*`` removed), 8 real local workers (4 prefork × 1 and one gevent × 20 on ``invoices``,
gevent × 200 on ``monitoring``, prefork × 1 on ``orchestration``, threads × 10 on ``default``)
and 6,000 seeded demo customers. Then the real ``MainWindow`` starts offscreen
(``QT_QPA_PLATFORM=offscreen``, set by this script) in a child process (this file with
``--gui-child``), as ``pooldesk.desktop.app.main`` builds it, and adopts those workers.

What is measured, in the window's process:

(a) **Start → first paint**: from just before ``QApplication(...)`` is created (Python, PySide6
    and Pooldesk already imported) to the end of the main window's first paint: an event filter
    sees the window's first ``QEvent.Paint`` and a zero-delay timer armed there fires when that
    whole paint pass (every visible child) has returned to the event loop. Also shown: the same
    end point from the process's creation (imports included), and how long until the Workers
    table shows every scene worker online. Target < 1.5 s.
(b) **GUI-thread stalls**: once every worker is online, the scene launches a real 6,000-invoice
    batch (12 chunks of 500) and, with ``--urls N`` (default 500), a monitoring batch against a
    loopback HTTP server. From that moment a 10 ms ``PreciseTimer`` in the GUI thread records
    how late each tick fires (stall = gap − 10 ms) until the invoice batch has ended (plus 2 s)
    or ``--seconds`` (default 60) have passed. Meanwhile the window is driven as a person would:
    every ``--page-seconds`` (3) it switches page, Overview → Workers → Batches → …, selecting
    the invoice batch on Batches (so its detail and children table refresh) and the next worker
    on Overview (its charts redraw). Targets: longest stall < 200 ms, p99 < 50 ms.

Prints the figures with "met" / "NOT met", the ten longest stalls with the page on screen, and
how far the batch got. The machine is shared (2 cores): the load average before and after and
whether a test suite was running are printed with the figures. Everything the scene started is
stopped and the directory deleted, also on Ctrl-C (``POOLDESK_BENCH_KEEP=1`` keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    open_window,
    precise_ticker,
    read_status,
    show_page,
    wait_for,
    write_status,
)
from _gui_report import TICK_MS, report

STATUS_MS = 500
PAGES = ("Overview", "Workers", "Batches")


# -- the window (child process) -------------------------------------------------------------
def gui_child(
    status_path: Path, page_seconds: float, expect_workers: int, trace_stalls: bool
) -> int:
    """The window as ``pooldesk.desktop.app.main`` builds it, plus the meters and a status file."""
    import psutil

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    created = psutil.Process().create_time()
    from PySide6.QtCore import QEvent, QObject, QTimer

    import pooldesk.desktop.shell.root  # noqa: F401 (imported before the clock starts)

    marks: dict[str, float] = {"imports_done": time.time()}
    t_app = [0.0]

    def app_about_to_start() -> None:
        marks["app_created_at"] = time.time()
        t_app[0] = time.perf_counter()

    app, window = open_window(app_about_to_start)

    class FirstPaint(QObject):
        """Stamps the first Paint of the main window, then the end of that paint pass."""

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and "paint_event" not in marks:
                marks["paint_event"] = time.perf_counter() - t_app[0]
                QTimer.singleShot(0, self._frame_done)
                watched.removeEventFilter(self)
            return False

        def _frame_done(self) -> None:
            marks["first_paint"] = time.perf_counter() - t_app[0]
            marks["first_paint_wall"] = time.time()

    first_paint = FirstPaint()
    window.installEventFilter(first_paint)
    window.show()

    state: dict[str, Any] = {"measure": False, "stop": False, "page": 0, "switches": 0}
    # (s since measuring began, stall s, page, and in the gap: GUI-thread CPU s, whole-process
    # CPU s, and s the GUI thread sat runnable in the kernel's run queue waiting for a core)
    stalls: list[tuple[float, float, str, float, float, float]] = []
    schedstat = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)

    def run_delay() -> float:
        """Linux schedstat field 2: ns this thread waited on a run queue (runnable, no core)."""
        return int(os.pread(schedstat, 128, 0).split()[1]) / 1e9

    cpu_last = [time.thread_time(), time.process_time(), run_delay()]
    last = [time.perf_counter()]
    t_measure = [0.0]

    traces: list[tuple[float, float, list[str]]] = []  # (stall began, stalled for, stack)

    def watchdog() -> None:
        """--trace-stalls: while the GUI thread is late by > 40 ms, sample its Python stack
        every 10 ms (from another thread: ``sys._current_frames``). Empty stacks below the
        event loop mean Qt's C++ (layout, painting) or a wait for the GIL / a CPU."""
        main_id = threading.main_thread().ident
        while not state.get("done"):
            time.sleep(0.01)
            since = time.perf_counter() - last[0]
            if not state["measure"] or since < 0.04:
                continue
            frame = sys._current_frames().get(main_id or 0)
            stack = [
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_stack(frame)
            ]
            traces.append((last[0] - t_measure[0], since, stack[-14:]))

    def page_name() -> str:
        item = window.nav.currentItem()
        return item.text() if item is not None else "?"

    def on_usr1(*_: object) -> None:
        state["measure"] = True
        t_measure[0] = time.perf_counter()
        stalls.clear()
        navigator.start(int(page_seconds * 1000))

    def on_term(*_: object) -> None:
        state["stop"] = True

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, on_term)

    def online() -> int:
        return sum(1 for w in window.workers_page.model.workers() if w.state == "online")

    def write(final: bool) -> None:
        data: dict[str, Any] = {
            "pid": os.getpid(),
            "final": final,
            "online": online(),
            "first_paint_s": marks.get("first_paint"),
            "paint_event_s": marks.get("paint_event"),
            "imports_s": marks["imports_done"] - created,
            "exec_to_paint_s": (
                marks["first_paint_wall"] - created if "first_paint_wall" in marks else None
            ),
            "workers_online_s": marks.get("workers_online"),
            "switches": state["switches"],
        }
        if final:
            data["stalls"] = stalls
            data["traces"] = traces
        write_status(status_path, data)

    def status() -> None:
        if "workers_online" not in marks and online() >= expect_workers:
            marks["workers_online"] = time.perf_counter() - t_app[0]
        if not state["measure"]:  # while measuring the parent needs nothing: no disk writes
            write(False)

    def navigate() -> None:
        """What a person does: the next page; on Batches the invoice batch, on Overview the
        next worker's charts."""
        state["page"] = (state["page"] + 1) % len(PAGES)
        title = PAGES[state["page"]]
        show_page(window, title)
        state["switches"] += 1
        if title == "Batches":
            page = window.batches_page
            invoices = [r for r in page.model.records() if r.kind == "invoices"]
            selected = page.selected_batch()
            if invoices and (selected is None or selected.id != invoices[0].id):
                page.select(invoices[0].id)
        elif title == "Overview":
            combo = window.overview_page.worker_combo
            if combo.count():
                combo.setCurrentIndex((combo.currentIndex() + 1) % combo.count())

    def tick() -> None:
        now = time.perf_counter()
        thread_cpu, process_cpu, queued = time.thread_time(), time.process_time(), run_delay()
        if state["measure"]:
            stall = max(0.0, now - last[0] - TICK_MS / 1000)
            stalls.append(
                (
                    now - t_measure[0],
                    stall,
                    page_name(),
                    thread_cpu - cpu_last[0],
                    process_cpu - cpu_last[1],
                    queued - cpu_last[2],
                )
            )
        last[0] = now
        cpu_last[:] = [thread_cpu, process_cpu, queued]
        if state["stop"]:
            state["stop"] = False
            ticker.stop()
            navigator.stop()
            state["done"] = True
            write(True)
            window.close()  # POOLDESK_CLOSE_ANSWER=leave: the scene stops the workers
            app.quit()

    ticker = precise_ticker(tick, TICK_MS)
    navigator = QTimer()
    navigator.timeout.connect(navigate)
    status_timer = QTimer()
    status_timer.timeout.connect(status)
    status_timer.start(STATUS_MS)
    if trace_stalls:
        threading.Thread(target=watchdog, name="stall-watchdog", daemon=True).start()
    return app.exec()


# -- the parent -----------------------------------------------------------------------------
def _test_suites_running() -> int:
    import psutil

    count = 0
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any("pytest" in part for part in cmdline[:4]):
            count += 1
    return count


def _renice(scene: Any, level: int) -> str:
    """Lower the workers' CPU priority. Each worker runs in its own session, and with Linux
    autogroups (``/proc/sys/kernel/sched_autogroup_enabled``) a process's nice value only ranks
    it inside its session's group, so the group's own nice (``/proc/PID/autogroup``) is set
    too; either alone is what a product change in ``backend/workers`` would do at spawn."""
    import psutil

    from pooldesk.backend.workers.records import RecordStore

    assert scene.home is not None
    store = RecordStore(scene.home / "workers")
    groups = {r.supervisor_pid for n in store.names() if (r := store.load(n)) and r.supervisor_pid}
    processes = groups_done = 0
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) not in groups:
                continue
            proc.nice(level)
            processes += 1
            if proc.pid in groups:
                with contextlib.suppress(OSError):
                    Path(f"/proc/{proc.pid}/autogroup").write_text(str(level))
                    groups_done += 1
    return f"{processes} processes, {groups_done} autogroups"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="longest measuring time")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--customers", type=int, default=6_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--urls", type=int, default=500, help="monitoring batch size (0: none)")
    parser.add_argument("--page-seconds", type=float, default=3.0)
    parser.add_argument(
        "--trace-stalls",
        action="store_true",
        help="sample the GUI thread's Python stack during stalls > 40 ms (diagnosis; adds load)",
    )
    parser.add_argument(
        "--renice",
        type=int,
        default=0,
        help="what-if: run the workers at this nice level (their processes and, with Linux "
        "autogroups, their sessions), as a proposed fix would; 0 (default) measures as shipped",
    )
    parser.add_argument("--gui-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--expect-workers", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gui_child:
        return gui_child(args.gui_child, args.page_seconds, args.expect_workers, args.trace_stalls)

    from pooldesk.desktop.scene import Scene

    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    load_before = os.getloadavg()
    suites = _test_suites_running()
    child: subprocess.Popen[bytes] | None = None
    keep = bool(os.environ.get("POOLDESK_BENCH_KEEP"))
    with Scene(workers=args.workers, customers=args.customers, keep=keep) as scene:
        assert scene.root is not None
        if args.renice:
            print(f"what-if: workers reniced to {args.renice}: {_renice(scene, args.renice)}")
        status_path = scene.root / "gui-status.json"
        env = dict(
            os.environ,
            QT_QPA_PLATFORM="offscreen",
            POOLDESK_CLOSE_ANSWER="leave",
            XDG_CONFIG_HOME=str(scene.root / "xdg"),
        )
        gui_log = open(scene.root / "gui.log", "wb")  # noqa: SIM115 (closed with the child)
        try:
            child = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--gui-child",
                    str(status_path),
                    "--page-seconds",
                    str(args.page_seconds),
                    "--expect-workers",
                    str(args.workers),
                    *(["--trace-stalls"] if args.trace_stalls else []),
                ],
                env=env,
                cwd=ROOT,
                stdout=gui_log,
                stderr=subprocess.STDOUT,
            )
            wait_for(
                "the first paint", lambda: read_status(status_path).get("first_paint_s"), 60, child
            )
            wait_for(
                f"{args.workers} workers online in the window",
                lambda: read_status(status_path).get("workers_online_s"),
                60,
                child,
            )
            time.sleep(2.0)  # the first sample, event resync and advisor run have settled
            began = time.monotonic()
            invoices = scene.launch_invoices(chunk_size=args.chunk_size)
            monitoring = scene.launch_monitoring(args.urls) if args.urls > 0 else None
            os.kill(child.pid, signal.SIGUSR1)
            ended_at: float | None = None
            record = invoices
            while time.monotonic() - began < args.seconds:
                time.sleep(1.0)
                record = scene.batch(invoices.id)
                if record.final and ended_at is None:
                    ended_at = time.monotonic()
                if ended_at is not None and time.monotonic() - ended_at >= 2.0:
                    break
                if child.poll() is not None:
                    raise RuntimeError(f"the window exited (code {child.returncode})")
            measured_s = time.monotonic() - began
            record = scene.batch(invoices.id)
            mon_record = scene.batch(monitoring.id) if monitoring is not None else None
            load_after = os.getloadavg()
            os.kill(child.pid, signal.SIGTERM)
            final = wait_for(
                "the window's report", lambda: read_status(status_path).get("final"), 30, child
            )
            final = read_status(status_path)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(30)
        finally:
            if child is not None and child.poll() is None:
                child.kill()
                child.wait(10)
            gui_log.close()
    report(args, final, measured_s, record, mon_record, load_before, load_after, suites)
    if args.renice:
        print(f"(what-if run: workers at nice {args.renice}, not as shipped)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; everything the scene started was stopped", file=sys.stderr)
        sys.exit(130)
