"""Why an earlier shared controller base lost its ``thread.started`` connection, and that
:class:`pooldesk.desktop.services.base.ServiceThread` is immune (its docstring has the whole story).

The trap (PySide6, PYSIDE-2418 in ``qobjectconnect.cpp``): a base class connects
``thread.started`` to a ``@Slot`` it declares; a subclass overrides that method. PySide sees the
signature in the base's meta-object, the function in the subclass, takes it for "a Python
override of a non-virtual Qt slot" and connects a functor whose context is the sender (the
QThread object, in the GUI thread). The override then runs on the GUI thread, and only when the
GUI thread's event loop gets to it, never in the service's thread.

Each probe waits on a ``threading.Event`` *without* spinning the GUI event loop, like a service
thread that is meant to run by itself: a start-up slot on the right thread is reached at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QApplication

from pooldesk.backend.settings import Settings
from pooldesk.desktop.services.base import ServiceThread, describe

WAIT_S = 3.0


class _Probe:
    """Where a start-up slot ran: ``reached`` is set by the slot, ``gui`` tells whether the
    slot ran on the GUI (main) thread."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.gui: bool | None = None

    def hit(self) -> None:
        self.gui = threading.current_thread() is threading.main_thread()
        self.reached.set()


@pytest.fixture
def threads() -> Iterator[list[QThread]]:
    """Threads a test started: joined at the end (after the GUI loop ran queued slots)."""
    started: list[QThread] = []
    yield started
    QApplication.processEvents()
    for thread in started:
        thread.quit()
        assert thread.wait(5000)


def _trap_pair(decorate_override: bool) -> type[QObject]:
    class Base(QObject):
        def __init__(self, probe: _Probe) -> None:
            super().__init__()
            self.probe = probe
            self.worker_thread = QThread()
            self.moveToThread(self.worker_thread)
            self.worker_thread.started.connect(self._on_thread_started)

        @Slot()
        def _on_thread_started(self) -> None:  # the base's default: overridden below
            raise AssertionError("the base's own slot is not expected to run")

    if decorate_override:

        class Sub(Base):
            @Slot()
            def _on_thread_started(self) -> None:
                self.probe.hit()

    else:

        class Sub(Base):  # type: ignore[no-redef]
            def _on_thread_started(self) -> None:
                self.probe.hit()

    return Sub


@pytest.mark.parametrize("decorate_override", [True, False])
def test_trap_an_overridden_base_slot_runs_on_the_gui_thread(
    qapp: QApplication, threads: list[QThread], decorate_override: bool
) -> None:
    """The reproduction: the override is not reached in the service thread at all; it runs
    later, on the GUI thread, once that thread processes events. (Should PySide ever connect
    overrides to the receiver again, this fails: the guard in ServiceThread may then go.)"""
    probe = _Probe()
    obj = _trap_pair(decorate_override)(probe)
    threads.append(obj.worker_thread)  # type: ignore[attr-defined]
    obj.worker_thread.start()  # type: ignore[attr-defined]
    assert not probe.reached.wait(WAIT_S), "reached without the GUI loop: the trap is gone"
    QApplication.processEvents()
    assert probe.reached.is_set() and probe.gui is True


class _Single(QObject):
    """The slot declared in the class that defines it; connected before or after the move."""

    def __init__(self, probe: _Probe, connect_first: bool) -> None:
        super().__init__()
        self.probe = probe
        self.worker_thread = QThread()
        if connect_first:
            self.worker_thread.started.connect(self.on_started)
        self.moveToThread(self.worker_thread)
        if not connect_first:
            self.worker_thread.started.connect(self.on_started)

    @Slot()
    def on_started(self) -> None:
        self.probe.hit()


@pytest.mark.parametrize("connect_first", [True, False])
def test_not_the_cause_connecting_before_or_after_move_to_thread(
    qapp: QApplication, threads: list[QThread], connect_first: bool
) -> None:
    """Control: without the override the slot runs in the object's thread, whether connected
    before or after ``moveToThread`` (Qt picks the receiver's thread when it emits)."""
    probe = _Probe()
    obj = _Single(probe, connect_first)
    threads.append(obj.worker_thread)
    obj.worker_thread.start()
    assert probe.reached.wait(WAIT_S) and probe.gui is False


class _Service(ServiceThread):
    """A service as the real ones are written: plain hooks, its own slots."""

    def __init__(self, probe: _Probe) -> None:
        super().__init__("pooldesk-test-service", Settings())
        self.probe = probe
        self.applied = _Probe()
        self.closed = False

    def _on_start(self) -> None:
        self.probe.hit()

    def _on_settings(self, settings: Settings) -> None:
        self.applied.hit()

    def _on_close(self) -> None:
        self.closed = True


def test_service_start_hook_runs_in_its_own_thread(qapp: QApplication) -> None:
    """The immunity: the start hook runs in the service thread with the GUI loop idle. Fails
    if the base connects ``started`` to anything a subclass can override (or to a
    name-mangled slot, which PySide cannot find by name either)."""
    probe = _Probe()
    service = _Service(probe)
    service.launch()
    try:
        assert probe.reached.wait(WAIT_S), "the start hook was not reached in its thread"
        assert probe.gui is False
    finally:
        service.shutdown()
    assert service.closed and not service.is_running()


class _Announcing(ServiceThread):
    """Emits ``announced`` from its own thread as it starts, like ``brokerChanged``."""

    announced = Signal()

    def __init__(self) -> None:
        super().__init__("pooldesk-test-announcing", Settings())

    def _on_start(self) -> None:
        self.announced.emit()


class _PlainView:
    def __init__(self) -> None:
        self.probe = _Probe()

    def show(self) -> None:
        self.probe.hit()


class _QtView(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.probe = _Probe()

    def show(self) -> None:
        self.probe.hit()


def test_a_service_signal_reaches_a_plain_objects_method_in_the_service_thread(
    qapp: QApplication,
) -> None:
    """The same PySide rule seen from the other side: a bound method of a plain Python object
    has no receiver, so the functor's context is the sender (the service) and the slot runs in
    the service's thread: a view fed that way paints widgets off the GUI thread (the status
    bar's broker line did, and hung the window). A QObject's method is queued to the GUI."""
    service, plain, qt_view = _Announcing(), _PlainView(), _QtView()
    service.announced.connect(plain.show)
    service.announced.connect(qt_view.show)
    service.launch()
    try:
        assert plain.probe.reached.wait(WAIT_S) and plain.probe.gui is False
        assert not qt_view.probe.reached.is_set()  # queued: only the GUI's event loop runs it
        # The queued call is posted once the plain slot has returned, a moment after ``reached``
        # is set in the service's thread: spin the GUI's loop until it arrives.
        deadline = time.monotonic() + WAIT_S
        while not qt_view.probe.reached.is_set() and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
        assert qt_view.probe.reached.is_set() and qt_view.probe.gui is True
    finally:
        service.shutdown()


def test_the_broker_line_is_a_qobject(qapp: QApplication) -> None:
    """Fed by the worker service's ``brokerChanged``: it must be queued to the GUI thread."""
    from PySide6.QtWidgets import QStatusBar

    from pooldesk.desktop.views.broker_line import BrokerLine

    bar = QStatusBar()
    assert isinstance(BrokerLine(bar), QObject)


class _Hub(QObject):
    settingsChanged = Signal(object)


def test_pushed_settings_reach_the_service_in_its_thread(qapp: QApplication) -> None:
    """``applySettings`` is the base's slot: a hub's signal (GUI thread) is queued into the
    service's thread, where the ``_on_settings`` hook runs, with the GUI loop idle."""
    service = _Service(_Probe())
    hub = _Hub()
    hub.settingsChanged.connect(service.applySettings)
    service.launch()
    try:
        assert service.probe.reached.wait(WAIT_S)
        hub.settingsChanged.emit(Settings(stop_timeout=5.0))
        assert service.applied.reached.wait(WAIT_S) and service.applied.gui is False
        assert service.settings.stop_timeout == 5.0
    finally:
        service.shutdown()


def test_services_neither_read_settings_nor_poll_batches_twice() -> None:
    """Settings are pushed (no service reads the file); the batch service is the only one
    holding a ``BatchService``."""
    from pathlib import Path

    import pooldesk.desktop.services as package

    folder = Path(package.__file__).parent
    for path in folder.glob("*.py"):
        text = path.read_text()
        assert "settings.load" not in text and "settings_mod" not in text, path.name
        if path.name != "batches.py":
            assert "BatchService" not in text, path.name


def test_a_service_may_not_override_a_base_slot_or_signal() -> None:
    for name in ("applySettings", "_service_started", "operationFinished"):
        with pytest.raises(TypeError, match=name):
            type("Bad", (ServiceThread,), {name: lambda self: None})


def test_every_service_overrides_hooks_only() -> None:
    """The four services import (the guard ran on each) and use the one signal shape."""
    from pooldesk.desktop.services.batches import BatchController
    from pooldesk.desktop.services.tasks import TasksController
    from pooldesk.desktop.services.telemetry import TelemetryController
    from pooldesk.desktop.services.workers import WorkerController

    for cls in (WorkerController, BatchController, TelemetryController, TasksController):
        assert issubclass(cls, ServiceThread)
        assert "operationStarted" not in vars(cls) and "operationFinished" not in vars(cls)


def test_run_reports_started_and_finished_with_one_shape(qtbot) -> None:  # type: ignore[no-untyped-def]
    service = _Service(_Probe())
    started: list[tuple[str, str, str]] = []
    finished: list[tuple[str, str, bool, str]] = []
    direct = Qt.ConnectionType.DirectConnection  # its thread is not started: call in place
    service.operationStarted.connect(lambda *a: started.append(a), direct)
    service.operationFinished.connect(lambda *a: finished.append(a), direct)
    service._run("stop", "w1", "Stopping w1…", lambda: "w1 stopped.")
    service._run("stop", "w2", "Stopping w2…", lambda: None)  # reported later by the service

    def boom() -> str:
        raise RuntimeError("no route to host")

    service._run("launch", "", "Launching…", boom)
    assert started == [
        ("stop", "w1", "Stopping w1…"),
        ("stop", "w2", "Stopping w2…"),
        ("launch", "", "Launching…"),
    ]
    assert finished == [
        ("stop", "w1", True, "w1 stopped."),
        ("launch", "", False, "RuntimeError: No route to host"),
    ]


def test_describe_expected_unexpected_and_the_result_backend() -> None:
    assert describe(ValueError("bad size"), (ValueError,)) == "Bad size"
    assert describe(KeyError("x"), (ValueError,)) == "KeyError: 'x'"
    try:
        try:
            raise ConnectionError("Connection refused")
        except ConnectionError as cause:
            raise RuntimeError("Failed to get meta for abc") from cause
    except RuntimeError as exc:
        text = describe(exc, (RuntimeError,))
    assert text == "The result backend did not answer (Connection refused)"
