"""A fix closes its loop (issue 21): after Fix… the queue's row says "measuring after the
fix" until runs on the new shape arrive, then compares before and after from the same
figures (cores used, tasks at a time, seconds per task)."""

from __future__ import annotations

from pathlib import Path

from pooldesk.backend.advisor.model import Observations, Thresholds, WorkerObs
from pooldesk.backend.fit import fixloop
from pooldesk.backend.fit.table import build
from pooldesk.backend.telemetry.fitstate import TaskFit

TH = Thresholds()
TASK = "proyecto.tasks.generar_reporte"


def _fit(pool: str, runs: int, wall: float, hold: float) -> TaskFit:
    busy = wall * runs * 0.98
    return TaskFit(
        TASK, "reportes", pool, runs, wall * runs, busy, busy, hold * runs, hold, wall * 1.2,
        own_wall_s=wall * runs,
    )  # fmt: skip


def _obs(worker: WorkerObs) -> Observations:
    return Observations(workers=[worker], cores=2)


def test_after_a_fix_the_row_measures_then_shows_before_and_after(tmp_path: Path) -> None:
    path = tmp_path / "fixes.json"
    trapped = WorkerObs(
        "rep", "rep@h", True, "gevent", 20, ["reportes"], "online", cores_used=0.99,
        tasks_per_s=1.78, fit=[_fit("gevent", 40, 0.56, 0.55)],
    )  # fmt: skip
    before_rows = build(_obs(trapped), TH)
    [row] = before_rows
    assert row.verdict == "trap" and row.fix is not None
    fixloop.note(row.fix, _obs(trapped), before_rows, path=path)

    # Restarted as prefork × 2: the probe runs, no task yet. Not "no probe".
    fresh = WorkerObs("rep", "rep@h", True, "prefork", 2, ["reportes"], "online", fit=[])
    [waiting] = fixloop.annotate(build(_obs(fresh), TH), _obs(fresh), fixloop.recent(path=path))
    assert waiting.verdict == "after_fix" and waiting.fix is None
    assert "measuring after the fix" in waiting.recommendation
    assert waiting.before is not None and waiting.before["pool"] == "gevent × 20"
    assert waiting.after is None

    busy = WorkerObs(
        "rep", "rep@h", True, "prefork", 2, ["reportes"], "online", cores_used=1.8,
        tasks_per_s=3.3, fit=[_fit("prefork", 30, 0.6, 0.0)],
    )  # fmt: skip
    [done] = fixloop.annotate(build(_obs(busy), TH), _obs(busy), fixloop.recent(path=path))
    assert done.before is not None and done.after is not None
    assert (done.before["cores_used"], done.after["cores_used"]) == (0.99, 1.8)
    assert done.before["tasks_at_a_time"] == 1.0 and done.after["tasks_at_a_time"] == 1.98
    assert done.after["seconds_per_task"] == 0.6 and done.after["pool"] == "prefork × 2"
    assert done.faster == 1.85
    said = fixloop.summary(done)
    assert said is not None and said.startswith("was 0.99 cores") and "1.9× faster" in said
    assert "to_dict" in dir(done) and done.to_dict()["before"]["pool"] == "gevent × 20"


def test_an_old_fix_is_history(tmp_path: Path) -> None:
    path = tmp_path / "fixes.json"
    w = WorkerObs("rep", "rep@h", True, "gevent", 20, ["reportes"], "online",
                  fit=[_fit("gevent", 40, 0.56, 0.55)])  # fmt: skip
    rows = build(_obs(w), TH)
    assert rows[0].fix is not None
    fixloop.note(rows[0].fix, _obs(w), rows, path=path)
    assert fixloop.recent(path=path)
    assert fixloop.recent(now=10**11, path=path) == []
    fixloop.forget_last(path=path)  # the fix failed: nothing to measure after it
    assert fixloop.recent(path=path) == []
