"""The advisor's rules: pure functions from observations to advice.

Each piece of advice says what is wrong in plain words, shows the numbers that prove it and
offers one fix. "CPU-bound queue under gevent" is *measured* (loop lag and gevent's blocked
reports from the in-worker probe, a process tree pinned at one core while several tasks run,
slow control replies), not guessed from a pool name: the prediction alone is only a warning.
"""

from __future__ import annotations

from collections.abc import Callable

from pooldesk.backend.advisor import fixbuild
from pooldesk.backend.advisor.ceiling import process_ceiling
from pooldesk.backend.advisor.fitrules import (
    greenlets_for,
    io_nature,
    measured_nature,
    measured_trap,
    nature_mismatch,
    trial_or_switch,
)
from pooldesk.backend.advisor.model import Advice, Fix, Observations, Thresholds, WorkerObs
from pooldesk.backend.units import human_ms, plural

Rule = Callable[[Observations, Thresholds], list[Advice]]
MiB = 2**20


def _nature(obs: Observations, queue: str) -> str | None:
    """The declared nature (settings, Pooldesk's own queues): a hint the measurements beat."""
    return obs.natures.get(queue)


def _measured_yields(obs: Observations, th: Thresholds, w: WorkerObs, queue: str) -> bool:
    """This gevent worker's own runs of ``queue`` showed they yield: the declaration is wrong."""
    m = measured_nature(obs, th, queue, w)
    return m is not None and m.nature == "io"


def cpu_under_gevent(obs: Observations, th: Thresholds) -> list[Advice]:
    out = []
    for w in obs.workers:
        if w.pool != "gevent" or w.state not in ("online", "online-remote"):
            continue
        trap = measured_trap(obs, th, w)
        if trap is not None:
            out.append(trap)
            continue
        cpu_queues = [
            q for q in w.queues if _nature(obs, q) == "cpu" and not _measured_yields(obs, th, w, q)
        ]
        if not cpu_queues:
            continue
        evidence: dict[str, object] = {
            "pool": "gevent",
            "concurrency": w.concurrency,
            "cpu_queues": cpu_queues,
            "active_tasks": w.active,
        }
        blocked = False
        if w.loop_lag_ms_max is not None:
            evidence["loop_lag_ms_max"] = w.loop_lag_ms_max
            blocked |= w.loop_lag_ms_max >= th.lag_ms
        if w.blocked_reports_recent is not None:
            evidence["blocked_reports"] = w.blocked_reports_recent
            blocked |= w.blocked_reports_recent >= th.blocked_reports
        if w.cores_used is not None:
            evidence["cores_used"] = round(w.cores_used, 2)
        if w.ping_seconds is not None:
            evidence["ping_seconds"] = round(w.ping_seconds, 2)
        pinned = w.cores_used is not None and w.cores_used <= th.gevent_single_core
        # A blocked loop on a worker fed CPU-bound work is the proof; a tree clearly above one
        # core would contradict it (the blocking came from elsewhere), so it must not be.
        measured = blocked and (pinned or w.cores_used is None)
        only_cpu = len(cpu_queues) == len(w.queues)
        fix = (
            fixbuild.restart(w.name, "prefork", obs.cores, w.pool, w.concurrency)
            if w.local and only_cpu
            else Fix(
                "start_worker",
                {
                    "name": f"{w.name}-cpu",
                    "pool": "prefork",
                    "concurrency": obs.cores,
                    "queues": cpu_queues,
                    **({"like": w.name} if w.local else {}),  # the same app
                },
                f"Start a new worker {w.name}-cpu: prefork × {obs.cores} on "
                f"{', '.join(cpu_queues)}.",
            )
        )
        if measured:
            cores_text = (
                f"{w.cores_used:.2f} cores" if w.cores_used is not None else "about one core"
            )
            text = (
                f"Worker {w.shown} runs CPU-bound queue {', '.join(cpu_queues)} on gevent: its "
                f"event loop is blocked (lag up to {human_ms(w.loop_lag_ms_max or 0)}, "
                f"{w.blocked_reports_recent or 0} blocked reports) and its process uses "
                f"{cores_text} at most, so its tasks run one after another. Prefork "
                f"runs them in parallel on {plural(obs.cores, 'core')}."
            )
            out.append(
                Advice(
                    f"cpu-under-gevent:{w.hostname}",
                    "cpu_under_gevent",
                    "critical",
                    f"CPU-bound work is serialised on gevent ({w.shown})",
                    text,
                    evidence,
                    fix,
                )
            )
        else:
            out.append(
                Advice(
                    f"cpu-under-gevent:{w.hostname}",
                    "cpu_under_gevent",
                    "warning",
                    f"CPU-bound queue on a gevent worker ({w.shown})",
                    f"Queue {', '.join(cpu_queues)} is CPU-bound but {w.shown} runs gevent: when "
                    "its tasks run they will block the loop and run one at a time. Not measured "
                    "yet (no blocking seen).",
                    evidence,
                    fix,
                )
            )
    return out


def io_under_prefork(obs: Observations, th: Thresholds) -> list[Advice]:
    out = []
    for w in obs.workers:
        if (
            w.pool != "prefork"
            or not w.queues
            or (w.concurrency or 0) < th.io_prefork_min_concurrency
        ):
            continue
        natures = {q: io_nature(obs, th, q) for q in w.queues}
        if not all(natures.values()):
            continue
        per_slot = (w.uss_bytes or 0) / max(1, w.concurrency or 1)
        greenlets = greenlets_for(obs, th, w, natures)
        measured_only = [q for q, how in natures.items() if how == "measured"]
        if measured_only:  # prefork numbers alone never send a queue to gevent: a trial first
            out.append(trial_or_switch(obs, th, w, measured_only, per_slot))
            continue
        out.append(
            Advice(
                f"io-under-prefork:{w.hostname}",
                "io_under_prefork",
                "warning",
                f"I/O-bound queue on a wide prefork pool ({w.shown})",
                f"{w.shown} keeps {w.concurrency} processes (≈{per_slot / MiB:.0f} MiB each, "
                f"{(w.uss_bytes or 0) / MiB:.0f} MiB in all) for I/O-bound queue "
                f"{', '.join(w.queues)}; a gevent worker waits on the network with thousands of "
                "slots in one process.",
                {
                    "pool": "prefork",
                    "concurrency": w.concurrency,
                    "uss_bytes": w.uss_bytes,
                    "uss_per_slot_bytes": int(per_slot),
                    "queues": w.queues,
                },
                fixbuild.restart(w.name, "gevent", greenlets, w.pool, w.concurrency)
                if w.local
                else None,
            )
        )
    return out


def prefork_oversubscribed(obs: Observations, th: Thresholds) -> list[Advice]:
    out = []
    for w in obs.workers:
        cpu = [q for q in w.queues if _cpu_like(obs, th, q)]
        if w.pool != "prefork" or not cpu or (w.concurrency or 0) <= obs.cores:
            continue
        out.append(
            Advice(
                f"oversubscribed:{w.hostname}",
                "prefork_oversubscribed",
                "info",
                f"More CPU-bound processes than cores ({w.shown})",
                f"{w.shown} runs {w.concurrency} processes for CPU-bound {', '.join(cpu)} on "
                f"{plural(obs.cores, 'core')}: they take turns, adding memory and context "
                "switches but no speed.",
                {"concurrency": w.concurrency, "cores": obs.cores, "cores_used": w.cores_used},
                fixbuild.resize(w.name, w.pool, w.concurrency, obs.cores) if w.local else None,
            )
        )
    return out


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


def _cpu_like(obs: Observations, th: Thresholds, queue: str) -> bool:
    m = measured_nature(obs, th, queue)
    if m is not None:
        return m.nature == "cpu"
    return _nature(obs, queue) == "cpu"


def _start_for(queue: str, obs: Observations) -> Fix:
    m = measured_nature(obs, Thresholds(), queue)
    cpu = (
        m.nature in ("cpu", "blocking", "mixed") if m is not None else _nature(obs, queue) == "cpu"
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
