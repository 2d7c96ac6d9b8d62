"""Resize a worker: a new concurrency, checked live by ``WorkerSpec.problems()``.

The dialog says how the change will happen before anything is sent: live (Celery's
``pool_grow``/``pool_shrink``: prefork and gevent, nothing interrupted) or a restart (threads
and solo cannot change size in place). A remote worker can only be resized live: restarting it
is for its own machine. An autoscaled worker's size follows the load: refused, with the reason.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.spec import WorkerSpec, can_resize_live
from pooldesk.desktop.views.dialog_buttons import enter_means
from pooldesk.desktop.views.messages import fit_height, show_list

SPIN_MAX = 100_000  # above every pool's own limit, so the spec explains the limit


class ResizeDialog(QDialog):
    def __init__(self, info: WorkerInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        # A fleet host's worker is resized by its agent, live or by a restart, like ours.
        self.host = str(getattr(info, "host", "") or "")
        self.remote = info.remote and not self.host
        self.setWindowTitle(f"Resize {info.name}")
        current = info.concurrency or 0

        what = f"{info.hostname}: {info.pool or 'unknown pool'} × {current or '?'}"
        if self.host:
            what += f" (on {self.host})"
        elif info.remote:
            what += " (remote)"
        self.worker_label = QLabel(what)
        self.concurrency_spin = QSpinBox()
        self.concurrency_spin.setRange(0, SPIN_MAX)  # 0 is typeable, and refused with a reason
        self.concurrency_spin.setAccelerated(True)
        self.concurrency_spin.setMinimumWidth(120)
        self.concurrency_spin.setValue(current)
        self.mode_label = QLabel()
        self.mode_label.setObjectName("hint")
        self.mode_label.setWordWrap(True)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Worker:", self.worker_label)
        form.addRow("&New concurrency:", self.concurrency_spin)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Resize")
        enter_means(self.ok_button, self.buttons)  # Enter never cancels
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.mode_label)
        layout.addWidget(self.problems_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)

        self.concurrency_spin.valueChanged.connect(self._validate)
        self._validate()

    # -- results -----------------------------------------------------------------------------
    def concurrency(self) -> int:
        return self.concurrency_spin.value()

    def live(self) -> bool:
        """Whether the change happens in place (else the worker restarts); an autoscaled
        worker is refused by :meth:`problems` before this matters."""
        return can_resize_live(self.info.pool, None, self.info.state)

    def problems(self) -> list[str]:
        pool = self.info.pool
        if not pool:
            return ["the worker did not say which pool it runs; resize it on its machine"]
        if self.info.autoscale:
            high, low = self.info.autoscale[0], self.info.autoscale[1]
            return [
                f"it autoscales between {low} and {high}: its size follows the load; "
                "restart it without autoscale to give it a fixed size"
            ]
        if self.remote and not self.live():
            return [
                f"the {pool} pool cannot grow or shrink in place, and a remote worker can only "
                "be restarted on its own machine"
            ]
        # The spec's rules for this pool (platform "linux" for a remote worker: its pools run
        # where it runs, not here).
        spec = WorkerSpec(name="resize", pool=pool, concurrency=self.concurrency())
        return spec.problems("linux" if self.info.remote else None)  # a host's pools too

    def accept(self) -> None:
        if self.ok_button.isEnabled():
            super().accept()

    # -- live checks -------------------------------------------------------------------------
    def _validate(self) -> None:
        problems = self.problems()
        same = self.concurrency() == (self.info.concurrency or 0)
        show_list(self.problems_label, problems)
        self.mode_label.setText("" if problems else self._mode_text(same))
        self.mode_label.setVisible(bool(self.mode_label.text()))
        self.ok_button.setEnabled(not problems and not same)
        self.ok_button.setToolTip(
            "" if self.ok_button.isEnabled() else "Choose a different, valid concurrency"
        )
        fit_height(self, 460)

    def _mode_text(self, same: bool) -> str:
        if same:
            return "That is its current concurrency."
        pool = self.info.pool or "?"
        if self.remote and not self.live():
            return ""  # the problem says why
        if self.live():
            growing = self.concurrency() > (self.info.concurrency or 0)
            verb = "pool_grow" if growing else "pool_shrink"
            return (
                f"Live: Celery's {verb} resizes the {pool} pool in place; running tasks "
                "are not interrupted."
            )
        return (
            f"Needs a restart: the {pool} pool cannot grow or shrink in place. The worker "
            "stops warm (its running tasks finish) and starts again with the new concurrency."
        )
