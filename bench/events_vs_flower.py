"""Pooldesk's event monitor (window open) against Flower, on one stream of task events.

Run: ``.venv/bin/python bench/events_vs_flower.py [--tasks 100000] [--publishers 3]``
(``--rate N`` caps the total publish rate at N events/s; 0, the default, is as fast as the
publishers can). Everything lives in a temporary ``POOLDESK_HOME`` with its own managed broker.

- Publishers: ``--publishers`` processes, each a fake worker ``bench-N@<host>`` replaying noop
  task lifecycles: ``task-sent`` from a client dispatcher (unbuffered, as ``apply_async`` does)
  then ``task-received``/``task-started``/``task-succeeded`` from a worker dispatcher that
  batches task events like a prefork worker with its event loop (``buffer_group=['task']``,
  24 per message), plus ``worker-online``/``worker-heartbeat`` (every 2 s)/``worker-offline``.
  Events travel by Redis pub/sub.
- Pooldesk: the real ``MainWindow`` (its Worker, Batch and Telemetry controllers; the telemetry
  controller owns the ``EventMonitor``) shown offscreen in a child process (this file with
  ``--gui-child``). A 10 ms precise ``QTimer`` in the GUI thread records how late each tick
  fires (stall = gap - 10 ms); every 0.5 s the child writes the monitor's snapshot counters to a
  status file.
- Flower: ``celery --broker=URL flower --address=127.0.0.1`` with
  ``FLOWER_UNAUTHENTICATED_API=true``; events ingested are the sum of ``flower_events_total``
  on ``/metrics``.

Both consumers are measured over the same window (publishing start → each one's last ingested
event, after a drain): events ingested, sustained events/s, CPU seconds per 1,000 events
(``psutil`` CPU times of the process, after - before), RSS at the end and its peak, and the
GUI main-thread stall p50/p99/max. Goals: >= 5,000 events/s sustained, <= half of Flower's CPU
per event, RSS <= Flower's, stall p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    bench_home,
    open_window,
    pct,
    precise_ticker,
    read_status,
    stop_process,
    wait_for,
    write_status,
)
from _event_publisher import start_publishers
from _events_report import report

TICK_MS = 10
STATUS_EVERY_MS = 500


# -- the GUI child --------------------------------------------------------------------------
def gui_child(status_path: Path) -> int:
    """The window as ``pooldesk.desktop.app.main`` builds it, plus a stall meter and a status
    file."""
    from PySide6.QtCore import QTimer

    app, window = open_window()
    window.show()

    stalls: list[float] = []
    flags = {"measure": False, "stop": False}
    last = [time.perf_counter()]

    def on_usr1(*_: object) -> None:  # start of the measured window: forget the warm-up
        stalls.clear()
        flags["measure"] = True

    def on_term(*_: object) -> None:
        flags["stop"] = True

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, on_term)

    def snapshot_fields() -> dict[str, Any]:
        monitor = window.telemetry._monitor  # the bench peeks; the window reads it the same way
        if monitor is None:
            return {"events": 0, "connected": False}
        snap = monitor.snapshot()
        return {
            "events": snap.events,
            "tasks_kept": snap.tasks_kept,
            "lag_seconds": snap.lag_seconds,
            "resyncs": snap.resyncs,
            "reconnects": getattr(snap, "reconnects", None),
            "connected": getattr(snap, "connected", None),
            "last_error": getattr(snap, "last_error", None),
        }

    def status() -> None:
        write_status(
            status_path,
            {"pid": os.getpid(), "time": time.time(), "final": False, **snapshot_fields()},
        )

    def tick() -> None:
        now = time.perf_counter()
        if flags["measure"]:
            stalls.append(max(0.0, now - last[0] - TICK_MS / 1000))
        last[0] = now
        if flags["stop"]:
            flags["stop"] = False
            ticker.stop()
            data = {"pid": os.getpid(), "time": time.time(), "final": True, **snapshot_fields()}
            data["stalls"] = _stall_stats(stalls)
            write_status(status_path, data)
            window.close()  # joins the controllers' threads, stops the EventMonitor
            app.quit()

    ticker = precise_ticker(tick, TICK_MS)
    status_timer = QTimer()
    status_timer.timeout.connect(status)
    status_timer.start(STATUS_EVERY_MS)
    status()
    return app.exec()


def _stall_stats(stalls: list[float]) -> dict[str, float]:
    if not stalls:
        return {"ticks": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(stalls)

    return {
        "ticks": len(ordered),
        "p50_ms": pct(ordered, 0.50) * 1000,
        "p99_ms": pct(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


# -- the parent -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return str(response.read().decode())


def _flower_events(base: str) -> int | None:
    try:
        text = _http(base + "/metrics")
    except Exception:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("flower_events_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _redis_disconnections(broker_dir: Path) -> int:
    """Subscribers Redis cut off for falling behind (``client-output-buffer-limit pubsub``,
    32 MB by default: their unread events are lost), counted in the managed broker's log."""
    try:
        text = (broker_dir / "redis.log").read_text(errors="replace")
    except OSError:
        return -1
    return text.count("overcoming of output buffer limits")


def _cpu(proc: Any) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def _ensure_flower(venv_bin: Path) -> None:
    try:
        import flower  # noqa: F401
    except ImportError:
        print("installing flower into the venv …", flush=True)
        subprocess.run([str(venv_bin / "pip"), "install", "-q", "flower"], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="total events/s cap (0: none)")
    parser.add_argument("--drain", type=float, default=60.0, help="max s to wait for consumers")
    parser.add_argument("--gui-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gui_child:
        return gui_child(args.gui_child)

    with bench_home("pooldesk-bench-events-") as home:
        return _run(args, home)


def _run(args: argparse.Namespace, home: Path) -> int:
    """Everything after the throwaway home exists: its broker, Flower, the window, publishers."""
    import psutil

    venv_bin = Path(sys.executable).parent
    _ensure_flower(venv_bin)

    from pooldesk.backend.broker import ensure_broker

    flower: subprocess.Popen[bytes] | None = None
    gui: subprocess.Popen[bytes] | None = None
    workers: list[Any] = []
    load_before = os.getloadavg()
    try:
        config = ensure_broker()
        url = str(config.broker_url)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        flower_env = dict(os.environ, FLOWER_UNAUTHENTICATED_API="true")
        flower_log = open(home / "flower.log", "wb")  # noqa: SIM115 (closed with the process)
        flower = subprocess.Popen(
            [
                str(venv_bin / "celery"),
                "--broker",
                url,
                "flower",
                "--address=127.0.0.1",
                f"--port={port}",
                "--max_tasks=100000",
            ],
            env=flower_env,
            cwd=home,
            stdout=flower_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        status_path = home / "gui-status.json"
        gui_env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(home / "xdg"))
        gui_log = open(home / "gui.log", "wb")  # noqa: SIM115
        gui = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--gui-child", str(status_path)],
            env=gui_env,
            cwd=ROOT,
            stdout=gui_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for("flower's HTTP port", lambda: _flower_events(base) is not None, 60)
        wait_for(
            "the window's event monitor",
            lambda: (read_status(status_path) or {}).get("connected"),
            60,
        )
        time.sleep(3.0)  # both receivers settled (the monitor's first resync, Flower's timers)
        flower_proc, gui_proc = psutil.Process(flower.pid), psutil.Process(gui.pid)

        workers, go, results = start_publishers(
            url, args.tasks, args.publishers, args.rate, daemon=True
        )
        time.sleep(2.0)  # the publishers import celery and connect

        base_counts = {
            "pooldesk": int((read_status(status_path) or {}).get("events", 0)),
            "flower": int(_flower_events(base) or 0),
        }
        cpu0 = {"pooldesk": _cpu(gui_proc), "flower": _cpu(flower_proc)}
        rss0 = {"pooldesk": gui_proc.memory_info().rss, "flower": flower_proc.memory_info().rss}
        peak = dict(rss0)
        os.kill(gui.pid, signal.SIGUSR1)  # the stall meter starts now
        t0 = time.monotonic()
        go.set()

        counts = dict(base_counts)
        last_change = {"pooldesk": t0, "flower": t0}
        published: dict[int, tuple[int, int, float]] = {}
        done_at: float | None = None
        expected = {"pooldesk": 0, "flower": 0}
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            current = {
                "pooldesk": int((read_status(status_path) or {}).get("events", 0)),
                "flower": _flower_events(base),
            }
            for name, value in current.items():
                if value is not None and value > counts[name]:
                    counts[name], last_change[name] = value, now
            peak["pooldesk"] = max(peak["pooldesk"], gui_proc.memory_info().rss)
            peak["flower"] = max(peak["flower"], flower_proc.memory_info().rss)
            while not results.empty():
                index, sent, task_sent, elapsed = results.get()
                published[index] = (sent, task_sent, elapsed)
            if done_at is None and len(published) == len(workers):
                done_at = now
                # Flower's flower_events_total counts task events only; the monitor counts all.
                expected["pooldesk"] = sum(s for s, _, _ in published.values())
                expected["flower"] = sum(t for _, t, _ in published.values())
            if done_at is None:
                if not any(p.is_alive() for p in workers) and results.empty():
                    raise RuntimeError("a publisher died")
                continue
            caught_up = all(counts[n] - base_counts[n] >= expected[n] for n in counts)
            quiet = all(now - last_change[n] > 5.0 for n in counts)
            if caught_up or quiet or now - done_at > args.drain:
                break

        cpu1 = {"pooldesk": _cpu(gui_proc), "flower": _cpu(flower_proc)}
        rss1 = {"pooldesk": gui_proc.memory_info().rss, "flower": flower_proc.memory_info().rss}
        load_after = os.getloadavg()
        dropped = _redis_disconnections(home / "home" / "broker")
        publish_wall = max(e for _, _, e in published.values())

        os.kill(gui.pid, signal.SIGTERM)
        final = wait_for(
            "the window's final report",
            lambda: (lambda s: s if s and s.get("final") else None)(read_status(status_path)),
            30,
        )
        try:
            gui.wait(30)
        except subprocess.TimeoutExpired:
            print("(the window did not close within 30 s)")

        rows: dict[str, dict[str, float]] = {}
        for name in ("pooldesk", "flower"):
            ingested = counts[name] - base_counts[name]
            wall = max(1e-9, last_change[name] - t0)
            cpu = cpu1[name] - cpu0[name]
            rows[name] = {
                "ingested": ingested,
                "expected": expected[name],
                "wall": wall,
                "eps": ingested / wall,
                "cpu": cpu,
                "cpu_per_1k": cpu / max(1, ingested) * 1000,
                "core_share": cpu / wall,
                "rss0": rss0[name] / 2**20,
                "rss": rss1[name] / 2**20,
                "peak": peak[name] / 2**20,
            }
        stalls = final.get("stalls", {})
        report(args, expected, publish_wall, rows, stalls, final, load_before, load_after)
        print(
            "subscribers Redis disconnected for a full pub/sub output buffer (32 MB): "
            f"{'unknown' if dropped < 0 else dropped}"
        )
        return 0
    finally:
        for proc in workers:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        if gui is not None and gui.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(gui.pid, signal.SIGTERM)
            try:
                gui.wait(15)
            except subprocess.TimeoutExpired:
                gui.kill()
                gui.wait(5)
        stop_process(flower)


if __name__ == "__main__":
    sys.exit(main())
