"""Settings ▸ Advisor thresholds: each threshold in plain words with its unit and what it does.

The file keeps the units of :class:`pooldesk.backend.advisor.model.Thresholds` (bytes, fractions);
the form shows MiB and %, and a field left as loaded writes back exactly what was loaded, so
opening and saving the page never rounds a value through MiB. A threshold at its default is
left out of the file (it then follows a changed default).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QWidget,
)

from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.settings import Settings
from pooldesk.backend.units import MiB
from pooldesk.desktop.views.settings.field_errors import error_under
from pooldesk.desktop.views.settings.widgets import form, same_width


@dataclass(frozen=True)
class ThresholdField:
    """How one advisor threshold is shown: in plain words, with its unit, and what it does.

    ``scale`` converts the shown number to the stored one (MiB → bytes, % → fraction), so
    ``settings.json`` keeps the units of ``Thresholds``."""

    label: str
    tooltip: str
    suffix: str = ""
    decimals: int = 0
    scale: float = 1
    maximum: float = 1_000_000


THRESHOLD_FIELDS = {
    "fit_min_runs": ThresholdField(
        "Runs measured before a queue's nature counts:",
        "The in-worker probe measures every task run; a queue's nature (cpu, blocking, io, "
        "mixed) and the advice resting on it wait for at least this many runs.",
        " runs",
        maximum=100_000,
    ),
    "fit_hold_ms": ThresholdField(
        "Loop hold that every greenlet feels:",
        "A gevent task that holds the event loop this long at once (CPU work or a blocking C "
        "call such as a database driver) stalls every other greenlet of its worker.",
        " ms",
        maximum=600_000,
    ),
    "fit_min_wall_ms": ThresholdField(
        "Tasks shorter than this are not judged:",
        "Tasks that take less than this in all are too short for their nature to matter: no "
        "pool-fit finding rests on them.",
        " ms",
        maximum=600_000,
    ),
    "trial_concurrency": ThresholdField(
        "Greenlets of a gevent trial worker:",
        "When I/O measured under prefork might suit gevent, the fix starts a small gevent "
        "worker of this many greenlets beside it to find out whether the tasks yield.",
        " greenlets",
        maximum=10_000,
    ),
    "lag_ms": ThresholdField(
        "Event-loop lag that means blocked:",
        "A gevent worker whose event loop wakes up this late (the in-worker probe measures it "
        "every second) counts as blocked: CPU-bound work is holding the loop.",
        " ms",
        maximum=600_000,
    ),
    "blocked_reports": ThresholdField(
        "Blocked-loop reports that mean blocked:",
        "A gevent worker also counts as blocked when gevent's own monitor reports its loop "
        "blocked at least this many times within the last 10 seconds.",
        " reports",
    ),
    "gevent_single_core": ThresholdField(
        "Blocked gevent worker using at most:",
        "A blocked gevent worker whose processes use no more than this many cores is running "
        "its CPU-bound tasks one after another: the warning becomes critical (measured). Well "
        "above one core the blocking comes from elsewhere and only the prediction is shown.",
        " cores",
        decimals=2,
        maximum=1024,
    ),
    "io_prefork_min_concurrency": ThresholdField(
        "Prefork too wide for I/O work from:",
        "A prefork worker with at least this many processes that only consumes I/O-bound "
        "queues gets a warning: a gevent worker waits on the network with far less memory.",
        " processes",
        maximum=100_000,
    ),
    "ram_available_fraction": ThresholdField(
        "Memory low below (share of RAM):",
        "Critical warning when the machine's available RAM falls below this share of its "
        "total, or below the amount in the next field, whichever is larger.",
        " %",
        decimals=1,
        scale=0.01,
        maximum=100,
    ),
    "ram_available_min_bytes": ThresholdField(
        "Memory low below (amount):",
        "Critical warning when available RAM falls below this amount, or below the share of "
        "RAM in the field above, whichever is larger.",
        " MiB",
        decimals=1,
        scale=MiB,
    ),
    "uss_growth_bytes_per_min": ThresholdField(
        "Worker memory growth that looks like a leak:",
        "A local worker whose memory (USS) grows at least this fast over the watch below gets "
        "a warning, and an audit finding when nothing recycles its processes "
        "(--max-tasks-per-child, --max-memory-per-child): a leaking task grows until the "
        "machine swaps.",
        " MiB/min",
        decimals=1,
        scale=MiB,
    ),
    "uss_growth_window_s": ThresholdField(
        "Watch a worker's memory for at least:",
        "Memory growth counts only after a worker's memory has been watched this long (and is "
        "measured over up to twice this), so a worker warming up — imports, connection pools, "
        "caches — is not taken for a leak. Shorter warns sooner, with more false alarms.",
        " min",
        decimals=1,
        scale=60,
        maximum=1440,
    ),
    "crash_loop_starts": ThresholdField(
        "Automatic restarts after a crash:",
        "A local worker that crashes is restarted by its supervisor, at most this many times "
        "within the crash-loop window; one crash more and it stays down with a critical "
        '"keeps crashing" warning.',
        " restarts",
        maximum=1000,
    ),
    "crash_loop_minutes": ThresholdField(
        "Crash-loop window:",
        "The period over which crashes are counted for the automatic restarts above.",
        " min",
        decimals=1,
        maximum=100_000,
    ),
    "audit_visibility_share": ThresholdField(
        "Audit: warn when a task reaches this share of the visibility timeout:",
        "Redis and SQS hand an unacknowledged message to another worker after the broker's "
        "visibility_timeout. A task whose longest run or ETA reaches this share of it gets a "
        "warning; past the timeout (or an id seen starting twice) it is critical.",
        " %",
        decimals=0,
        scale=0.01,
        maximum=100,
    ),
    "audit_long_task_s": ThresholdField(
        "Audit: a long task runs at least:",
        "Tasks this long make early acknowledgement (work lost when a worker is killed) and a "
        "prefetch multiplier above 1 under prefork (short tasks stuck behind them) matter.",
        " s",
        decimals=1,
        maximum=1_000_000,
    ),
    "audit_prefetch_wait_s": ThresholdField(
        "Audit: a prefetched task waited inside a worker for:",
        "A task received by a worker that waited this long before a process started it "
        "(reserved behind a long task) makes the prefetch finding critical.",
        " s",
        decimals=1,
        maximum=1_000_000,
    ),
    "audit_outlier_factor": ThresholdField(
        "Audit: a run this many times its median, with no time limit:",
        "A task with no time limit at all whose longest run took this many times its median "
        "run gets a warning: a hung run would hold its worker slot for ever.",
        " ×",
        decimals=1,
        maximum=100_000,
    ),
    "audit_min_runs": ThresholdField(
        "Audit: runs before a task's median counts:",
        "The outlier finding above waits for at least this many finished runs of the task.",
        " runs",
        maximum=1_000_000,
    ),
    "audit_eta_waiting": ThresholdField(
        "Audit: ETA tasks held in one worker's memory:",
        "Received tasks waiting for their ETA or countdown sit in the worker's memory; this "
        "many at once without worker_eta_task_limit (Celery 5.6) gets a warning.",
        " tasks",
        maximum=10_000_000,
    ),
    "raise_after": ThresholdField(
        "Show a warning after:",
        "A condition must be seen in this many consecutive checks (about one a second) before "
        "its warning shows, so one odd sample does not raise it. Crashes and an unreachable "
        "broker show at once.",
        " checks",
        maximum=10_000,
    ),
    "clear_after": ThresholdField(
        "Clear a warning after:",
        "A warning goes away once its condition has been absent from this many consecutive "
        "checks (about one a second), so it does not flicker.",
        " clean checks",
        maximum=10_000,
    ),
}


class ThresholdsSection(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Advisor thresholds", parent)
        self.spins: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self._loaded: dict[str, tuple[float, Any]] = {}  # as loaded: (shown, stored)
        layout = form(self)
        # The audit's labels are sentences: on a narrow window a field goes under its label
        # instead of widening the page (Settings scrolled sideways at 1280 × 720).
        layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        defaults = Thresholds()
        for f in fields(Thresholds):
            default = getattr(defaults, f.name)
            spec = THRESHOLD_FIELDS.get(f.name) or ThresholdField(
                f"{f.name.replace('_', ' ').capitalize()}:",
                "",
                decimals=0 if isinstance(default, int) else 2,
            )
            spin: QSpinBox | QDoubleSpinBox
            if spec.decimals == 0 and spec.scale == 1:
                spin = QSpinBox()
                spin.setRange(0, int(spec.maximum))
            else:
                spin = QDoubleSpinBox()
                spin.setDecimals(spec.decimals)
                spin.setRange(0, spec.maximum)
            spin.setSuffix(spec.suffix)
            spin.setAccelerated(True)
            spin.setToolTip(spec.tooltip)
            spin.valueChanged.connect(self._edited)
            self.spins[f.name] = spin
            label = QLabel(spec.label)
            label.setToolTip(spec.tooltip)
            label.setBuddy(spin)
            layout.addRow(label, spin)
        self.errors = {
            f"advisor.{name}": (spin, error_under(layout, spin))
            for name, spin in self.spins.items()
        }
        same_width(list(self.spins.values()))

    def _edited(self, *_args: object) -> None:
        self.changed.emit()

    def show_settings(self, file: Settings, _env: dict[str, str]) -> None:
        thresholds = Thresholds.from_settings(file.advisor)
        for name, spin in self.spins.items():
            stored = getattr(thresholds, name)
            spin.setValue(stored / _scale(name))
            self._loaded[name] = (spin.value(), stored)

    def apply(self, settings: Settings) -> Settings:
        advisor = dict(settings.advisor)  # keeps keys the form does not show (queue_nature)
        defaults = Thresholds()
        for name, spin in self.spins.items():
            value = self._stored(name, spin.value())
            if value == getattr(defaults, name):
                advisor.pop(name, None)
            else:
                advisor[name] = value
        return replace(settings, advisor=advisor)

    def problems(self) -> list[str]:
        return []  # every value a spin box allows is valid; Settings.validate() has the rest

    def _stored(self, name: str, shown: float) -> Any:
        """The value to store for what the field shows: bytes for MiB, a fraction for %. A
        field left as loaded keeps the stored value exactly (no rounding through MiB)."""
        loaded = self._loaded.get(name)
        if loaded is not None and loaded[0] == shown:
            return loaded[1]
        if _scale(name) == 1:
            return shown
        value = shown * _scale(name)
        if isinstance(getattr(Thresholds(), name), int):
            return round(value)
        return round(value, 6)


def _scale(name: str) -> float:
    spec = THRESHOLD_FIELDS.get(name)
    return spec.scale if spec is not None else 1
