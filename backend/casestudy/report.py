"""What a case-study run found: one row per (scenario, pool) and the ratios the story rests on.

The ratios use ``work_s`` (the planner's start to the last child's result), not the batch
summary's ``wall_seconds``: the watcher only looks once a second, so on a one-second monitoring
run the summary would add up to a second of polling delay to the very figure being judged.
Both are kept in every row, beside the wall time seen by the caller.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from pooldesk.backend.units import MiB

INVOICES = "invoices"
MONITORING = "monitoring"
#: The product's claims, as the ratios below are judged against them.
SPEEDUP_TARGET_PER_CORE = 0.9  # prefork over gevent on invoices: at least 0.9 × cores
IDEAL_TARGET = 1.3  # gevent monitoring wall: at most 1.3 × the ideal


@dataclass(frozen=True)
class Run:
    """One batch on one worker; every duration in seconds, memory in bytes."""

    scenario: str  # INVOICES or MONITORING
    pool: str
    concurrency: int
    items: int  # invoices billed or URLs checked
    children: int  # tasks in the batch (chunks or URLs)
    wall_s: float  # batch summary: planner start → the watcher saw the end (1-s polling)
    work_s: float  # planner start → the last child's result was stored
    own_wall_s: float  # launch call → final state seen by the caller
    cpu_s: float  # CPU seconds of the worker's process tree during the batch
    cores_used: float  # cpu_s / work_s: 1.0 is one core busy the whole time
    peak_uss_bytes: int  # highest USS of the tree, sampled every 0.2 s
    ok: int
    failed: int
    stuck: int  # children that never ended and were cancelled after a stall
    batch_id: str

    @property
    def clean(self) -> bool:
        """Every child ran and succeeded: only then do its timings mean what they say."""
        return self.failed == 0 and self.stuck == 0


@dataclass
class CaseStudyReport:
    scale: float
    cores: int  # prefork concurrency used
    delay_ms: int  # test-server delay per URL
    runs: list[Run] = field(default_factory=list)

    def run(self, scenario: str, pool: str) -> Run | None:
        return next((r for r in self.runs if r.scenario == scenario and r.pool == pool), None)

    def ideal_monitoring_s(self) -> float | None:
        """Every slot busy from the first moment: ceil(URLs / concurrency) rounds of one delay.

        Equals ``URLs × delay / concurrency`` when the URLs fill every round (full scale).
        """
        run = self.run(MONITORING, "gevent")
        if run is None:
            return None
        return math.ceil(run.items / run.concurrency) * self.delay_ms / 1000

    def ratios(self) -> dict[str, float | None]:
        inv_g, inv_p = self.run(INVOICES, "gevent"), self.run(INVOICES, "prefork")
        mon_g, mon_p = self.run(MONITORING, "gevent"), self.run(MONITORING, "prefork")
        ideal = self.ideal_monitoring_s()
        return {
            "invoice_speedup_prefork_over_gevent": _ratio(inv_g, inv_p, "work_s"),
            "invoice_speedup_target": round(SPEEDUP_TARGET_PER_CORE * self.cores, 2),
            "monitoring_gevent_over_ideal": (
                round(mon_g.work_s / ideal, 2) if mon_g and ideal else None
            ),
            "monitoring_gevent_over_ideal_target": IDEAL_TARGET,
            "monitoring_ideal_s": ideal,
            "monitoring_slowdown_prefork_over_gevent": _ratio(mon_p, mon_g, "work_s"),
            "invoice_memory_prefork_over_gevent": _ratio(inv_p, inv_g, "peak_uss_bytes"),
            "monitoring_memory_prefork_over_gevent": _ratio(mon_p, mon_g, "peak_uss_bytes"),
        }

    def verdicts(self) -> dict[str, bool | None]:
        """Whether each claim held here; None when a run it needs is missing or not clean."""
        r = self.ratios()
        speedup, ideal = r["invoice_speedup_prefork_over_gevent"], r["monitoring_gevent_over_ideal"]
        invoices_ok = self._clean(INVOICES, "gevent") and self._clean(INVOICES, "prefork")
        return {
            "invoice_speedup": None
            if speedup is None or not invoices_ok
            else speedup >= SPEEDUP_TARGET_PER_CORE * self.cores,
            "monitoring_near_ideal": None
            if ideal is None or not self._clean(MONITORING, "gevent")
            else ideal <= IDEAL_TARGET,
        }

    def _clean(self, scenario: str, pool: str) -> bool:
        run = self.run(scenario, pool)
        return run is not None and run.clean

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the parameters, every row, the ratios and whether the targets held."""
        return {
            "scale": self.scale,
            "cores": self.cores,
            "delay_ms": self.delay_ms,
            "runs": [asdict(r) for r in self.runs],
            "ratios": self.ratios(),
            "verdicts": self.verdicts(),
        }

    def format_table(self) -> str:
        """The rows as an aligned table, then one line per ratio with its target."""
        headers = ["scenario", "pool", "conc", "items", "wall s", "work s", "cores used"]
        headers += ["peak USS", "ok", "failed", "stuck"]
        rows = [_cells(r) for r in self.runs]
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in [headers, *rows]
        ]
        r, v = self.ratios(), self.verdicts()
        lines += [
            "",
            _ratio_line(
                f"invoices: prefork -c {self.cores} was "
                f"{_x(r['invoice_speedup_prefork_over_gevent'])} as fast as gevent",
                f">= {r['invoice_speedup_target']}x",
                v["invoice_speedup"],
            ),
            _ratio_line(
                f"monitoring: gevent took {_x(r['monitoring_gevent_over_ideal'])} the ideal "
                f"{_s(r['monitoring_ideal_s'])}",
                f"<= {IDEAL_TARGET}x",
                v["monitoring_near_ideal"],
            ),
            f"monitoring: prefork -c {self.cores} took "
            f"{_x(r['monitoring_slowdown_prefork_over_gevent'])} as long as gevent",
            f"memory (peak USS) prefork/gevent: invoices "
            f"{_x(r['invoice_memory_prefork_over_gevent'])}, monitoring "
            f"{_x(r['monitoring_memory_prefork_over_gevent'])}",
        ]
        return "\n".join(lines)


def _ratio(a: Run | None, b: Run | None, attr: str) -> float | None:
    """``a.attr / b.attr`` to two decimals; None when a run is missing or the divisor is 0."""
    if a is None or b is None or not getattr(b, attr):
        return None
    return round(float(getattr(a, attr)) / float(getattr(b, attr)), 2)


def _cells(r: Run) -> list[str]:
    return [
        r.scenario,
        r.pool,
        str(r.concurrency),
        str(r.items),
        f"{r.wall_s:.2f}",
        f"{r.work_s:.2f}",
        f"{r.cores_used:.2f}",
        _mib(r.peak_uss_bytes),
        str(r.ok),
        str(r.failed),
        str(r.stuck),
    ]


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _s(value: float | None) -> str:
    return "-" if value is None else f"({value:.2f} s)"


def _mib(value: int) -> str:
    return f"{value / MiB:.1f} MiB"


def _ratio_line(text: str, target: str, held: bool | None) -> str:
    verdict = "n/a, children failed or stuck" if held is None else "met" if held else "NOT met"
    return f"{text}  (target {target}: {verdict})"
