"""A realistic scene for layout tests and quick screenshots, without a broker or a worker.

What a user's project looks like on the Overview (issue 21): a CPU-bound queue trapped on
gevent × 20 and a prefork queue, two warnings, five queues in the Pool fit table, three
batches, six workers and long project and task names. The warnings and Pool fit rows are not
typed by hand: they are what the real advisor rules and ``fit.table.build`` make of hand-made
observations, so a new rule or a longer recommendation shows up here too.
"""

from __future__ import annotations

import time
from typing import Any

from pooldesk.backend.advisor.model import Advice, Observations, Thresholds, WorkerObs
from pooldesk.backend.advisor.rules import evaluate
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.fit.table import QueueFit, build
from pooldesk.backend.telemetry.fitstate import TaskFit
from pooldesk.backend.telemetry.samples import ProcessSample, Snapshot, SystemSample
from pooldesk.backend.workers.manager import WorkerInfo

PROJECT = "proyecto_facturacion_electronica_regional"
TASK = f"{PROJECT}.tasks.generar_reporte_mensual_consolidado"


def _fit(
    task: str, queue: str, pool: str, runs: int, wall: float, cpu: float, hold: float
) -> TaskFit:
    return TaskFit(
        task, queue, pool, runs, wall * runs, cpu * runs, cpu * runs, hold * runs, hold,
        wall * 1.3, own_wall_s=wall * runs,
    )  # fmt: skip


def observations() -> Observations:
    """Six workers: the trap (gevent × 20 on a CPU-bound queue), prefork, gevent on I/O…"""
    workers = [
        WorkerObs(
            "reportes-gevent", "reportes-gevent@laptop", True, "gevent", 20, ["reportes"],
            "online", active=1, cores_used=0.99, loop_lag_ms_max=556.0, blocked_reports_recent=9,
            fit=[_fit(TASK, "reportes", "gevent", 40, 0.56, 0.55, 0.556)],
        ),
        WorkerObs(
            "facturas-prefork", "facturas-prefork@laptop", True, "prefork", 2, ["facturas"],
            "online", active=2, cores_used=1.6,
            fit=[_fit(f"{PROJECT}.tasks.emitir_factura_electronica", "facturas", "prefork",
                      120, 0.30, 0.28, 0.0)],
        ),
        WorkerObs(
            "notificaciones", "notificaciones@laptop", True, "gevent", 200,
            ["notificaciones"], "online", active=30, cores_used=0.2, loop_lag_ms_max=4.0,
            fit=[_fit(f"{PROJECT}.tasks.enviar_correo_al_cliente", "notificaciones", "gevent",
                      300, 0.8, 0.004, 0.002)],
        ),
        WorkerObs(
            "sincronizacion", "sincronizacion@laptop", True, "threads", 10, ["sincronizacion"],
            "online", active=3, cores_used=0.3,
            fit=[_fit(f"{PROJECT}.tasks.sincronizar_inventario_con_erp", "sincronizacion",
                      "threads", 60, 1.2, 0.05, 0.0)],
        ),
        WorkerObs(
            "archivos-prefork", "archivos-prefork@laptop", True, "prefork", 8, ["archivos"],
            "online", active=1, cores_used=0.4,
            fit=[_fit(f"{PROJECT}.tasks.comprimir_archivos_adjuntos", "archivos", "prefork",
                      25, 0.9, 0.85, 0.0)],
        ),
        WorkerObs(
            "orquestacion", "orquestacion@laptop", True, "prefork", 1, ["default"], "online",
            cores_used=0.01,
        ),
    ]  # fmt: skip
    return Observations(workers=workers, cores=2, queue_waiting={"reportes": 26, "facturas": 4})


def advice_and_fit() -> tuple[list[Advice], list[QueueFit]]:
    obs, th = observations(), Thresholds()
    return evaluate(obs, th), build(obs, th)


def workers() -> list[WorkerInfo]:
    now = time.time()
    out = []
    for i, w in enumerate(observations().workers):
        out.append(
            WorkerInfo(
                w.name, w.hostname, 5000 + i, w.pool, w.concurrency, list(w.queues), w.state,
                False, cpu_percent=(w.cores_used or 0) * 100, memory_bytes=(60 + 20 * i) * 2**20,
                children=w.concurrency if w.pool == "prefork" else 0, started_at=now - 600,
                active=w.active, processed=100 * i, project=PROJECT, broker="redis://localhost:6380/0",
            )
        )  # fmt: skip
    return out


def batches() -> list[BatchRecord]:
    now = time.time()
    counts = {"total": 12, "succeeded": 5, "failed": 0, "started": 2, "pending": 5}
    return [
        BatchRecord("7f3a9c1e5b2d4f60a8c7e9d1b3f5a7c9", "invoices", {"period": "2026-11"},
                    "running", now - 60, started_at=now - 58, counts=counts),
        BatchRecord("1b2c3d4e5f60718293a4b5c6d7e8f901", "monitoring", {"urls": 1000},
                    "completed", now - 900, started_at=now - 899, finished_at=now - 700,
                    counts={"total": 10, "succeeded": 10}),
        BatchRecord("aa00bb11cc22dd33ee44ff5566778899", "invoices", {"period": "2026-10"},
                    "completed_with_failures", now - 3600, started_at=now - 3599,
                    finished_at=now - 3000, counts={"total": 12, "succeeded": 11, "failed": 1}),
    ]  # fmt: skip


def broker() -> BrokerStatus:
    return BrokerStatus(
        "redis://localhost:6399/0", True, True, pid=4100, memory_bytes=3 * 2**20,
        version="7.2.4", queues={"reportes": 26, "facturas": 4, "invoices": 0},
    )  # fmt: skip


def project_broker() -> BrokerStatus:
    """The project's own broker, where its workers really run (masked)."""
    return BrokerStatus(
        "redis://:****@10.0.0.12:6380/0", False, True, memory_bytes=12 * 2**20,
        version="7.0.15", queues={"reportes": 26, "facturas": 4},
    )  # fmt: skip


def snapshot() -> Snapshot:
    now = time.time()
    system = SystemSample(62.0, (70.0, 54.0), 3 * 2**30, 5 * 2**30, 8 * 2**30, 0, 2**30)
    samples = {}
    for i, w in enumerate(observations().workers):
        samples[w.name] = ProcessSample(
            w.name, "worker", 5000 + i, (w.cores_used or 0) * 100, (60 + 20 * i) * 2**20,
            (80 + 20 * i) * 2**20, 2, 30, 12.0, w.cores_used, w.cores_used, w.hostname, w.pool,
            w.concurrency,
        )  # fmt: skip
    return Snapshot(now, system, samples)


def feed(window: Any) -> None:
    """Put the scene on every page of a ``MainWindow`` (what the services' signals carry)."""
    advice, fit = advice_and_fit()
    overview = window.overview_page
    overview.set_advice(advice)
    window.banner.set_advice(advice)
    overview.set_fit(fit)
    overview.set_batches(batches())
    overview.set_broker(broker())
    overview.set_resources(snapshot())
    window.workers_page.set_workers(workers())
    window.workers_page.set_resources(snapshot())
    window.batches_page.set_batches(batches())
    window.broker_line.show_status(broker())
    window.broker_line.show_projects([(PROJECT, project_broker())])
    overview.set_project_brokers([(PROJECT, project_broker())])
    window.update_first_run(workers())
