"""The advisor's rules about a pool that does not fit its work: CPU-bound work on gevent, I/O
on a wide prefork pool, more CPU-bound prefork processes than cores.

Why apart from ``rules`` (the registry, and the rules about queues, batches, memory, crashes
and the broker): these three judge the *pool choice* of one worker against the nature of its
queues, measured first (``fitrules.measured_nature``) and declared only where nothing was
measured; each offers a restart, a resize or a new worker as its fix.
"""

from __future__ import annotations

from pooldesk.backend.advisor import fixbuild
from pooldesk.backend.advisor.fitrules import (
    greenlets_for,
    io_nature,
    measured_nature,
    measured_trap,
    trial_or_switch,
)
from pooldesk.backend.advisor.model import Advice, Fix, Observations, Thresholds, WorkerObs
from pooldesk.backend.units import MiB, human_ms, plural


def declared_nature(obs: Observations, queue: str) -> str | None:
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
            q
            for q in w.queues
            if declared_nature(obs, q) == "cpu" and not _measured_yields(obs, th, w, q)
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


def _cpu_like(obs: Observations, th: Thresholds, queue: str) -> bool:
    m = measured_nature(obs, th, queue)
    if m is not None:
        return m.nature == "cpu"
    return declared_nature(obs, queue) == "cpu"
