"""Every warning's evidence reads as words (issue 21: a chip showed a raw Python dict).

Walks every rule in ``advisor.rules.RULES`` over observations that make each of them speak
(a rule nobody triggers here fails the test, so a new rule gets walked too), then checks the
chips' phrases: no ``{``, ``[``, ``'`` or ``None``, and units where there are figures."""

from __future__ import annotations

from pooldesk.backend.advisor.model import BatchObs, Observations, Thresholds, WorkerObs
from pooldesk.backend.advisor.phrases import phrase, phrases, rows
from pooldesk.backend.advisor.rules import RULES
from pooldesk.backend.telemetry.fitstate import TaskFit

TH = Thresholds()
MiB = 2**20
REPR_MARKS = ("{", "[", "'", "None")


def _fit(task: str, queue: str, pool: str, cpu: float, hold: float, declared: str | None = None):  # type: ignore[no-untyped-def]
    runs, wall = 40, 0.56
    busy, held = cpu * wall * runs, hold * wall * runs
    return TaskFit(
        task, queue, pool, runs, wall * runs, busy, busy, held, hold * wall, wall * 1.2, declared,
        own_wall_s=wall * runs,
    )  # fmt: skip


def _scenes() -> list[Observations]:
    trap = WorkerObs(
        "rep", "rep@h", True, "gevent", 20, ["reportes"], "online", active=1, cores_used=0.99,
        loop_lag_ms_max=556.0, blocked_reports_recent=9, ping_seconds=1.4,
        fit=[_fit("proyecto.tasks.generar_reporte", "reportes", "gevent", 0.98, 0.99, "io")],
    )  # fmt: skip
    predicted = WorkerObs("g", "g@h", True, "gevent", 20, ["invoices"], "online", ping_seconds=2.0)
    wide = WorkerObs("p", "p@h", True, "prefork", 16, ["monitoring"], "online", uss_bytes=400 * MiB)
    over = WorkerObs("o", "o@h", True, "prefork", 8, ["invoices"], "online")
    leak = WorkerObs(
        "l", "l@h", True, "prefork", 1, ["default"], "online", uss_bytes=900 * MiB,
        uss_growth_bytes_per_min=80 * MiB,
    )  # fmt: skip
    loop = WorkerObs(
        "c", "c@h", True, "prefork", 1, ["default"], "crashed", starts_recent=4,
        exit="exit code 1", gave_up=True,
    )  # fmt: skip
    dead = WorkerObs("d", "d@h", True, "prefork", 1, ["default"], "crashed", exit=None)
    ceiling = WorkerObs(
        "mon", "mon@h", True, "gevent", 200, ["monitoring"], "online", active=200,
        cores_used=0.97, tasks_per_s=115.0,
    )  # fmt: skip
    moved = WorkerObs(
        "m", "m@h", True, "prefork", 2, ["default"], "online",
        off_broker="cannot reach its broker: started on redis://127.0.0.1:6390/0, the broker "
        "is now at redis://127.0.0.1:6391/0; restart it (pooldesk worker restart m)",
    )  # fmt: skip
    return [
        Observations(
            workers=[trap, predicted, wide, over, leak, loop, dead, ceiling, moved],
            queue_waiting={"monitoring": 4200, "orphans": 12},
            batches=[BatchObs("abcdef0123456789", "invoices", "orphans", 12, 0)],
            natures={"invoices": "cpu", "reportes": "io", "monitoring": "io"},
            cores=2,
            ram_available_bytes=300 * MiB,
            ram_total_bytes=8 * 2**30,
        ),
        Observations(broker_up=False, broker_error="broker unreachable at redis://:****@x"),
    ]


def test_every_rule_speaks_in_words() -> None:
    spoken: dict[str, list[str]] = {}
    for obs in _scenes():
        for rule in RULES:
            for advice in rule(obs, TH):
                texts = [text for _key, text in phrases(advice.evidence)]
                assert texts, advice.rule
                bad = [t for t in texts if any(mark in t for mark in REPR_MARKS)]
                assert bad == [], (advice.rule, bad)
                table = [f"{k} {v}" for k, v in rows(advice.evidence)]
                assert [t for t in table if any(m in t for m in REPR_MARKS)] == [], table
                spoken.setdefault(rule.__name__, []).extend(texts)
    assert sorted(spoken) == sorted(rule.__name__ for rule in RULES)  # none left unwalked
    trap = spoken["cpu_under_gevent"]
    for wanted in ("gevent × 20", "held the loop 554 ms", "held 99 % of its run", "40 runs"):
        assert wanted in trap, trap
    assert "300.0 MiB of 8.0 GiB RAM free" in spoken["ram_pressure"]


def test_odd_values_still_read_as_words() -> None:
    assert phrase("cores_used", None) is None  # left out, not "None"
    assert phrase("tasks", [{"task": "a", "runs": 3}, {"task": "b", "runs": 2}]) == "5 runs"
    assert phrase("something_new", {"a": 1, "b": None}) == "something new a 1"
    assert phrase("listing", [{"x": 1}, {"x": 2}]) == "2 listings"
    assert phrase("flag", True) == "flag yes"
    assert phrase("note", "it's ['odd']") == "note it’s ’odd’"
    assert phrase("loop_lag_ms_max", 35012.6) == "loop lag up to 35.0 s"
