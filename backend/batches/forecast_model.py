"""How long a batch of identical calls takes on a pool: the pure maths of the launch forecast.

A call is split into what each pool treats differently (``CallCost``):

- **CPU**: needs a core. Prefork runs ``min(N, cores)`` of them at once; a gevent process (one
  loop, one thread) and a threads pool (the GIL) run them one at a time.
- **blocking wait**: no CPU, but the thread does not yield (a C call gevent cannot patch). On
  prefork and threads it overlaps like any wait; on gevent it holds the loop, so it is
  serialised with every other call's CPU.
- **cooperative wait**: gives a gevent loop back; overlaps ``N`` at a time on every pool.

Celery's own CPU per call (``fit.concurrency.CELERY_CPU_S``, measured here: 4 ms prefork,
8–9 ms gevent with the result backend on) is added as CPU of the pool that runs the batch: for
short calls it is most of the cost (a gevent process tops out near 110–150 calls/s).

*Measured work, today's machine*: the measurement is read as work on an idle machine (the time
a run waited for a core, which the probe knows from ``schedstat``, is dropped: it was the load
*then*), and the load *now* — others' runnable processes, sampled while the forecast listens —
is applied as a fair share of the cores (``core_share``). On a shared 2-core box a CPU task
measured at load 6 took 3.8× its CPU time; read as-is it overstated a run at load 3 by 2.5×.

The batch runs in *waves*: ``s`` slots (processes or greenlets) take ``s`` calls at once; a wave
of ``k`` calls lasts the longer of one call's own wall time and the time its shared part needs
(``k × CPU / cores`` on prefork, ``k × loop hold`` on gevent, ``k × CPU`` under the GIL). Identical
calls sent at once keep the waves aligned, so the last, partial wave is the tail a small batch
pays: 5 CPU calls of 1 s on prefork × 4 with 2 cores take 2 s + 1 s, not 2.5 s.

Pure: numbers in, seconds and the words that explain them out (tests/unit/test_forecast_model.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pooldesk.backend.fit.concurrency import CELERY_CPU_S

DEFAULT_OVERHEAD_S = 0.005  # a pool Celery's cost was not measured for


@dataclass(frozen=True)
class CallCost:
    """One call of the task, as measured (means per run)."""

    cpu_s: float  # CPU time of the task's own code
    block_s: float  # waits that hold the thread / the gevent loop (no yield)
    coop_s: float  # waits that yield under gevent
    measured_on: str  # the pool the numbers come from
    runs: int
    # False when measured off gevent: whether a wait yields cannot be told there, so the waits
    # sit in ``coop_s`` (the Pool fit table's "io" reading) and gevent gets a caveat.
    waits_known: bool = True
    cpu_known: bool = True  # False: run times only (task history); all assumed CPU
    items_per_call: float | None = None  # items the measured calls carried, when known

    @property
    def wall_s(self) -> float:
        return self.cpu_s + self.block_s + self.coop_s

    def scaled(self, factor: float) -> CallCost:
        """The same task carrying ``factor`` × the items per call (linear in items)."""
        f = max(0.0, factor)
        items = None if self.items_per_call is None else self.items_per_call * f
        return replace(
            self,
            cpu_s=self.cpu_s * f,
            block_s=self.block_s * f,
            coop_s=self.coop_s * f,
            items_per_call=items,
        )

    def waits_blocking(self) -> CallCost:
        """The pessimistic reading of unknown waits: every wait holds the loop."""
        return replace(self, block_s=self.block_s + self.coop_s, coop_s=0.0)


def from_gevent(
    runs: int,
    own_wall_s: float,
    cpu_s: float,
    demand_s: float,
    hold_s: float,
    quiet: tuple[int, float, float, float] | None = None,
) -> CallCost | None:
    """Totals measured on gevent, read as work on an idle machine. The loop hold splits the
    waits: hold less CPU demand blocks, the rest of a call's own time yields. A call's own time
    is best read from its *quiet* runs (no other task held the loop meanwhile: exact); else
    from ``own_wall_s`` (wall less others' holds, an estimate that errs long under heavy
    contention). ``demand_s``: CPU plus the waits for a core."""
    if runs <= 0 or own_wall_s <= 0:
        return None
    cpu = max(0.0, cpu_s) / runs
    demand = max(cpu, demand_s / runs)
    hold = max(demand, hold_s / runs)
    if quiet and quiet[0] > 0 and quiet[1] > 0:
        q_runs, q_wall, _, q_hold = quiet
        alone = hold + max(0.0, (q_wall - q_hold) / q_runs)
    else:
        alone = max(hold, own_wall_s / runs)
    # time spent waiting for a core (demand − CPU) was the machine's load then, not the task's
    return CallCost(cpu, hold - demand, max(0.0, alone - hold), "gevent", runs)


def from_threaded(
    runs: int, wall_s: float, cpu_s: float, demand_s: float, pool: str
) -> CallCost | None:
    """Totals measured on prefork, solo or threads: CPU, and the rest of the wall that did not
    want a core (time spent waiting *for* a core is contention, not the task's own wait)."""
    if runs <= 0 or wall_s <= 0:
        return None
    cpu = max(0.0, cpu_s) / runs
    wait = max(0.0, (wall_s - max(demand_s, cpu_s)) / runs)
    return CallCost(cpu, 0.0, wait, pool, runs, waits_known=False)


def from_runtimes(runs: int, mean_runtime_s: float, pool: str) -> CallCost | None:
    """Run times only (task history): no CPU share. Read as all CPU, the safe side on every
    pool (the case study's trap is a CPU task believed to be waiting)."""
    if runs <= 0 or mean_runtime_s <= 0:
        return None
    return CallCost(mean_runtime_s, 0.0, 0.0, pool, runs, waits_known=False, cpu_known=False)


@dataclass(frozen=True)
class Load:
    """The machine's load now, beside which the batch will run (default: an idle machine)."""

    others: float = 0.0  # runnable processes of others (grouped: sessions)
    weight: float | None = None  # their CFS weight in nice-0 units (None: one each)
    grouped: bool = False  # scheduler autogroup: sessions, not processes, share the CPU
    own_weight: float = 1.0  # the worker's (nice 10, Pooldesk's default for its workers: 0.107)
    idle_cores: float | None = None  # cores left idle meanwhile (/proc/stat), when measured

    @property
    def busy(self) -> bool:
        return self.others >= 0.5


IDLE = Load()


@dataclass(frozen=True)
class Estimate:
    pool: str
    concurrency: int
    seconds: float
    slots: int  # calls in flight at once
    parallel: float  # calls finishing per call wall time in a full wave (≤ slots)
    waves: int
    per_call_s: float  # one call's wall on this pool, Celery's cost included
    serial_s: float  # its part that takes turns (CPU on prefork/threads, loop hold on gevent)
    overhead_s: float
    load: Load = IDLE  # the machine's load it was computed beside


def overhead(pool: str) -> float:
    return CELERY_CPU_S.get(pool, DEFAULT_OVERHEAD_S)


def core_share(k: float, cores: int, load: Load = IDLE) -> float:
    """Cores ``k`` CPU-bound processes of one worker get: all they can use on an idle machine;
    beside others, what the others leave (the idle cores measured over the listen, which
    smooths bursts; else one core per runnable other) or Linux CFS's fair share by
    weight — per process k·w / (k·w + W), or with autogroup per session w / (w + W), of the
    cores — whichever is more. A worker is one session; Pooldesk nices its workers (weight
    0.107 at nice 10), so on a machine busy with nice-0 work they get a small share."""
    if k <= 0:
        return 0.0
    c = max(1, int(cores))
    b = max(0.0, load.others)
    if b <= 0:
        return min(k, c)
    others = b if load.weight is None else max(0.0, load.weight)
    mine = load.own_weight * (1 if load.grouped else k)
    fair = c * mine / (mine + others) if mine + others > 0 else c
    left = c - b if load.idle_cores is None else load.idle_cores
    return min(k, c, max(left, fair))


def estimate(
    cost: CallCost,
    pool: str,
    concurrency: int,
    cores: int,
    calls: int,
    load: Load = IDLE,
) -> Estimate:
    """Seconds for ``calls`` identical calls on ``pool`` × ``concurrency`` with ``cores``, beside
    the machine's ``load`` now (default: idle)."""
    n = max(1, int(concurrency))
    c = max(1, int(cores))
    ovh = overhead(pool)
    one = core_share(1, c, load)  # a single process's share of a core
    cpu = (cost.cpu_s + ovh) / one  # one call's CPU part as wall time, alone on its lane
    wall = cpu + cost.block_s + cost.coop_s
    if pool == "gevent":  # one loop: CPU and blocking holds take turns
        serial, shared = cpu + cost.block_s, False
    elif pool in ("threads", "solo"):  # the GIL: Python CPU takes turns
        n = 1 if pool == "solo" else n
        serial, shared = cpu, False
    else:  # prefork (and anything unknown: one process per slot): k calls on the cores
        serial, shared = cost.cpu_s + ovh, True

    def wave(k: int) -> float:
        if not k:
            return 0.0
        if shared:
            return max(wall, k * serial / core_share(k, c, load))
        return max(wall, k * serial)

    total = max(0, int(calls))
    full, rest = divmod(total, n)
    seconds = full * wave(n) + wave(rest)
    waves = full + (1 if rest else 0)
    parallel = n * wall / wave(n) if total else 0.0
    return Estimate(pool, n, seconds, n, parallel, waves, wall, serial, ovh, load)


def describe(cost: CallCost, est: Estimate, cores: int, calls: int, items: int) -> str:
    """The numbers used, in plain words: what a person checks before trusting the figure."""
    own = cost.wall_s
    per_call = f"{_ms(own)} per call"
    if items and calls and items != calls:
        per_call += f" ({_ms(own * calls / items)} per item, {items / calls:.4g} per call)"
    if not cost.cpu_known:
        what = f"{per_call} from task history ({_runs(cost.runs)}), CPU not measured: read as CPU"
    else:
        share = cost.cpu_s / cost.wall_s if cost.wall_s > 0 else 0.0
        what = f"{per_call}, CPU {share:.0%}"
        if cost.measured_on == "gevent":
            held = cost.cpu_s + cost.block_s
            what += f", loop hold {held / (held + cost.coop_s):.0%}" if held > 0 else ""
        what += f" (measured on {cost.measured_on}, {_runs(cost.runs)})"
    slots = f"{est.pool} × {est.concurrency}"
    if est.pool == "gevent":
        how = (
            f"{slots}: one loop, the {_ms(est.serial_s)} of CPU and hold per call "
            f"(Celery's {_ms(est.overhead_s)} included) take turns"
        )
    elif est.pool in ("threads", "solo"):
        how = f"{slots}: the {_ms(est.serial_s)} of CPU per call takes turns"
    else:
        how = f"{slots} on {cores} cores: up to {min(est.concurrency, cores)} calls compute at once"
    how += f"; {est.parallel:.1f} calls in flight on average"
    tail = f"; {calls:,} calls in {est.waves:,} waves of up to {est.slots}"
    if est.load.busy:
        what_busy = "sessions" if est.load.grouped else "processes"
        tail += f"; beside {est.load.others:.1f} busy {what_busy} of others on the machine now"
        if est.load.weight is not None:
            tail += f" (weight {est.load.weight:.1f} vs the worker's {est.load.own_weight:.2f})"
        if est.load.idle_cores is not None:
            tail += f", {est.load.idle_cores:.1f} cores idle"
        tail += f": {core_share(1, cores, est.load):.2f} of a core per process"
    return f"{what}; {how}{tail}"


def _runs(n: int) -> str:
    return f"{n:,} run" + ("" if n == 1 else "s")


def _ms(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def human(seconds: float) -> str:
    """'≈ 60 min', '≈ 42 s': the figure a person reads before launching."""
    if seconds >= 5400:
        return f"≈ {seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"≈ {seconds / 60:.0f} min"
    return f"≈ {seconds:.0f} s" if seconds >= 10 else f"≈ {seconds:.1f} s"
