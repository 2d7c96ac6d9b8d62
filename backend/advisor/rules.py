"""The advisor's rules: pure functions from observations to advice, and their registry.

Each piece of advice says what is wrong in plain words, shows the numbers that prove it and
offers one fix. Here: the order the rules run in (``RULES``, ``evaluate``: nothing but the
broker's own advice without a broker), and the rules about the system around the workers — a
batch that cannot progress, a queue nobody consumes, memory, crashes, the broker. A worker's
pool against its work is ``poolrules`` ("CPU-bound queue under gevent" is *measured* there, not
guessed from a pool name); measured natures are ``fitrules``; the per-process ceiling,
``ceiling``.
"""

from __future__ import annotations

from collections.abc import Callable

from pooldesk.backend.advisor.ceiling import process_ceiling
from pooldesk.backend.advisor.fitrules import measured_nature, nature_mismatch
from pooldesk.backend.advisor.model import Advice, Fix, Observations, Thresholds
from pooldesk.backend.advisor.poolrules import (
    cpu_under_gevent,
    declared_nature,
    io_under_prefork,
    prefork_oversubscribed,
)
from pooldesk.backend.units import MiB, plural

Rule = Callable[[Observations, Thresholds], list[Advice]]


def deadlock_risk(obs: Observations, th: Thresholds) -> list[Advice]:
    out = []
    for b in obs.batches:
        waiting = b.pending + b.started
        if not waiting:
            continue
        consumers = obs.consumers(b.queue)
        # Busy slots are a deadlock only while no child runs: a slot busy with one of the
        # children is progress (it said "cannot progress" beside "completed 1/1 chunks").
        if consumers and (
            b.started > 0
            or not all(
                w.active >= (w.concurrency or 1) and set(w.queues) >= {"orchestration"}
                for w in consumers
            )
        ):
            continue
        reason = (
            "no worker consumes its children's queue"
            if not consumers
            else "every slot that could run its children is busy"
        )
        out.append(
            Advice(
                f"deadlock:{b.id}",
                "deadlock_risk",
                "critical",
                f"Batch {b.id[:8]} cannot progress",
                f"Batch {b.id[:8]} ({b.kind}) waits for "
                f"{plural(waiting, 'child', 'children')} on queue {b.queue}, but {reason}.",
                {
                    "batch": b.id,
                    "queue": b.queue,
                    "waiting_children": waiting,
                    "consumers": [w.name for w in consumers],
                },
                _start_for(b.queue, obs),
            )
        )
    return out


def _start_for(queue: str, obs: Observations) -> Fix:
    m = measured_nature(obs, Thresholds(), queue)
    cpu = (
        m.nature in ("cpu", "blocking", "mixed")
        if m is not None
        else declared_nature(obs, queue) == "cpu"
    )
    pool, conc = ("prefork", obs.cores) if cpu else ("gevent", 100)
    return Fix(
        "start_worker",
        {"name": f"{queue}-1", "pool": pool, "concurrency": conc, "queues": [queue]},
        f"Start worker {queue}-1: {pool} × {conc} on queue {queue}.",
    )


def no_consumer(obs: Observations, th: Thresholds) -> list[Advice]:
    out = []
    for queue, waiting in sorted(obs.queue_waiting.items()):
        if waiting > 0 and not obs.consumers(queue):
            out.append(
                Advice(
                    f"no-consumer:{queue}",
                    "no_consumer",
                    "warning",
                    f"Nobody consumes queue {queue}",
                    f"{waiting} messages wait on {queue} and no online worker listens to it.",
                    {"queue": queue, "waiting": waiting},
                    _start_for(queue, obs),
                )
            )
    return out


def ram_pressure(obs: Observations, th: Thresholds) -> list[Advice]:
    out = []
    if obs.ram_available_bytes is not None and obs.ram_total_bytes:
        floor = max(th.ram_available_min_bytes, th.ram_available_fraction * obs.ram_total_bytes)
        if obs.ram_available_bytes < floor:
            out.append(
                Advice(
                    "ram:system",
                    "ram_pressure",
                    "critical",
                    "Memory is running out",
                    f"Only {obs.ram_available_bytes / MiB:.0f} MiB of "
                    f"{obs.ram_total_bytes / MiB:.0f} MiB are available.",
                    {
                        "available_bytes": obs.ram_available_bytes,
                        "total_bytes": obs.ram_total_bytes,
                    },
                    None,
                )
            )
    for w in obs.workers:
        growth = w.uss_growth_bytes_per_min
        if w.local and growth is not None and growth >= th.uss_growth_bytes_per_min:
            out.append(
                Advice(
                    f"ram-growth:{w.hostname}",
                    "ram_pressure",
                    "warning",
                    f"Worker {w.shown} keeps growing",
                    f"{w.shown}'s memory grows by "
                    f"{growth / MiB:.0f} MiB a minute; a leak in a task grows until the machine "
                    "swaps. Recycling pool processes bounds it (Max memory per child, in a start's "
                    "advanced options).",
                    {"uss_bytes": w.uss_bytes, "growth_bytes_per_min": int(growth)},
                    Fix("restart_worker", {"name": w.name}, f"Restart worker {w.name} now."),
                )
            )
    return out


def crash_loop(obs: Observations, th: Thresholds) -> list[Advice]:
    return [
        Advice(
            f"crash-loop:{w.hostname}",
            "crash_loop",
            "critical",
            f"Worker {w.shown} keeps crashing",
            f"{w.shown} crashed {w.starts_recent} times within {th.crash_loop_minutes:.0f} min "
            f"({w.exit or 'unknown reason'}); automatic restarts have stopped. Read its log, "
            "fix the cause, then start it again.",
            {"crashes": w.starts_recent, "exit": w.exit},
            Fix("restart_worker", {"name": w.name}, f"Start worker {w.name} again."),
        )
        for w in obs.workers
        if w.local and w.state == "crashed" and w.gave_up
    ]


def crashed(obs: Observations, th: Thresholds) -> list[Advice]:
    return [
        Advice(
            f"crashed:{w.hostname}",
            "crashed",
            "warning",
            f"Worker {w.shown} crashed",
            f"{w.shown} ended without being asked ({w.exit or 'unknown reason'}).",
            {"exit": w.exit, "crashes": w.starts_recent},
            Fix("restart_worker", {"name": w.name}, f"Start worker {w.name} again."),
        )
        for w in obs.workers
        if w.local and w.state == "crashed" and not w.gave_up
    ]


def broker_unreachable(obs: Observations, th: Thresholds) -> list[Advice]:
    if obs.broker_up:
        return []
    return [
        Advice(
            "broker-unreachable",
            "broker_unreachable",
            "critical",
            "Broker unreachable",
            obs.broker_error or "The broker does not answer.",
            {"error": obs.broker_error},
            Fix("start_broker", {}, "Start Pooldesk's managed broker."),
        )
    ]


def off_broker(obs: Observations, th: Thresholds) -> list[Advice]:
    """A running worker that cannot reach its broker (it moved, or is down for it): listed
    online, consuming nothing."""
    return [
        Advice(
            f"off-broker:{w.hostname}",
            "off_broker",
            "critical",
            f"Worker {w.shown} cannot reach its broker",
            f"{w.shown} {w.off_broker}.",
            {"reason": w.off_broker},
            Fix("restart_worker", {"name": w.name}, f"Restart worker {w.name} on the broker."),
        )
        for w in obs.workers
        if w.local and w.off_broker
    ]


RULES: list[Rule] = [
    cpu_under_gevent,
    nature_mismatch,
    io_under_prefork,
    prefork_oversubscribed,
    deadlock_risk,
    no_consumer,
    ram_pressure,
    crash_loop,
    crashed,
    broker_unreachable,
    off_broker,
    process_ceiling,
]


def evaluate(obs: Observations, th: Thresholds) -> list[Advice]:
    if not obs.broker_up:
        return broker_unreachable(obs, th)  # everything else is unknowable without it
    return [advice for rule in RULES for advice in rule(obs, th)]
