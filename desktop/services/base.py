"""One way to run backend work off the GUI thread: a QObject that lives in its own QThread.

A service is created on the GUI thread, moves itself into a thread of its own, and from then on
every request reaches it as a queued slot call (connect a GUI-thread signal to its slot) and
every result leaves as a signal. :class:`ServiceThread` owns that lifecycle once for every
service: the thread, ``moveToThread``, :meth:`launch`, :meth:`is_running`, :meth:`shutdown`
(finish the current call, stop the timers, close, join), the settings it was given and
:meth:`applySettings`, and one shape for what it reports::

    operationStarted(op, subject, doing)       # "stop", "w1", "Stopping w1…"
    operationFinished(op, subject, ok, message)  # message: a summary, a blank line, detail

:meth:`_run` wraps one request: it says ``operationStarted``, runs the call, and turns any
exception into a message through the one :func:`describe`, so no exception escapes the thread.
A service keeps only its domain calls and three plain hooks, all run in its thread:
``_on_start`` (build what lives there), ``_on_settings`` (settings pushed later) and
``_on_close``. Settings are pushed, never re-read: the composition root hands each service the
``Settings`` it runs with and connects its settings hub to :meth:`applySettings`.

Why the base connects ``started`` to a private slot of its own and refuses overridden slots
------------------------------------------------------------------------------------------
An earlier shared base connected ``self._thread.started`` to a ``@Slot`` method of the base
that each controller overrode; in the window tests the workers never came online. The cause is
how PySide6 resolves ``signal.connect(obj.method)`` (``getReceiver`` in ``qobjectconnect.cpp``,
PYSIDE-2418): it finds the slot's signature in ``obj``'s meta-object, and when that signature
was declared by a *base* class's meta-object while the Python function was defined in a
subclass, it assumes "a Python override of a non-virtual Qt slot" and falls back to a plain
functor connection whose context is the *sender*. The sender here is the QThread object, which
lives in the GUI thread, so the auto connection becomes a queued call into the GUI thread: the
subclass's start-up ran on the GUI thread (only when the window's event loop got round to it),
built its timer and backend objects there ("QObject: Cannot create children for a parent that
is in a different thread") and never ran in the service's own thread. (The attempt itself is
not in the history, so how exactly that showed as "never online" is inferred, not replayed.)
Any base slot a subclass overrides is caught the same way, ``applySettings`` as much as a
start-up slot, and an override with or without ``@Slot`` alike (the subclass adds no new
meta-object slot for a signature the base already has). Not the cause, though suspected:
connecting before or after ``moveToThread`` (a meta-object connection picks the receiver's
thread at emit time), a lambda or partial being collected, a missing ``@Slot`` on the override.

So: ``started`` and the shutdown request are connected to slots that only this class defines,
which call the plain hooks, and :meth:`__init_subclass__` refuses a subclass that redefines any
slot or signal this class declares. (Not a name-mangled ``__started``: PySide looks the bound
method up by its unmangled ``__name__``, does not find it on the object, and takes the same
functor path.) ``tests/desktop/test_desktop_service_thread.py`` reproduces the trap with a minimal
pair of classes and fails if the base is ever connected to an overridable slot again.

The same rule bites the other way: a service signal connected to a bound method of a *plain*
Python object (no QObject to receive it) gets the sender as context, so that slot runs in the
service's thread. Whatever shows a service's signal on screen must be a QObject (a widget, or a
QObject child of one), so the call is queued into the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QMetaMethod, QObject, QThread, QTimer, Signal, Slot

from pooldesk.backend.redact import mask_text
from pooldesk.backend.settings import Settings

log = logging.getLogger(__name__)
_SLOT_OR_SIGNAL = (QMetaMethod.MethodType.Slot, QMetaMethod.MethodType.Signal)


class ServiceThread(QObject):
    """A QObject in its own QThread; subclasses add domain slots and signals only."""

    operationStarted = Signal(str, str, str)  # op, subject (a worker, a batch id or ""), doing
    # op, subject, ok, message: the first line a summary, after a blank line the detail
    operationFinished = Signal(str, str, bool, str)
    _shutdownRequested = Signal()

    # Failures phrased as they read (a person can act on them); others get their type and a
    # traceback in the log.
    expected_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError, ValueError)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a subclass that redefines one of this class's slots or signals: PySide would
        connect to the override through a functor on the *sender's* thread (see above)."""
        super().__init_subclass__(**kwargs)
        meta = ServiceThread.staticMetaObject  # type: ignore[attr-defined]
        own = {
            bytes(meta.method(i).name().data()).decode()
            for i in range(meta.methodOffset(), meta.methodCount())
            if meta.method(i).methodType() in _SLOT_OR_SIGNAL
        }
        clash = sorted(own & set(vars(cls)))
        if clash:
            raise TypeError(
                f"{cls.__name__} redefines {', '.join(clash)} of ServiceThread; PySide would run "
                "the override on the sender's thread. Override the plain hook instead "
                "(_on_start, _on_settings, _on_close)."
            )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__()  # no parent: it moves to its own thread
        self._settings = settings
        self._closing = False
        self._timers: list[QTimer] = []
        self._home_thread = self.thread()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        # Both targets are private slots of this class: see the module docstring.
        self._thread.started.connect(self._service_started)
        self._shutdownRequested.connect(self._service_teardown)

    # -- called from the GUI thread ----------------------------------------------------------
    def launch(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        """Finish the current call, stop the timers, close what the service opened, join the
        thread. Blocks for at most the current call (every backend call is bounded)."""
        if self._thread.isRunning():
            self._shutdownRequested.emit()
            self._thread.wait()

    @property
    def settings(self) -> Settings:
        return self._settings

    # -- in the service thread ---------------------------------------------------------------
    @Slot(object)
    def applySettings(self, settings: Settings) -> None:
        """New settings from the hub (queued into this thread); the service adapts in place."""
        self._settings = settings
        if self._closing:
            return
        try:
            self._on_settings(settings)
        except Exception:
            log.exception("%s: applying the settings failed", self._thread.objectName())

    @Slot()
    def _service_started(self) -> None:
        self._on_start()

    @Slot()
    def _service_teardown(self) -> None:
        self._closing = True
        for timer in self._timers:
            timer.stop()
        try:
            self._on_close()
        except Exception:
            log.exception("%s: closing failed", self._thread.objectName())
        self.moveToThread(self._home_thread)  # the timers (children) go too, stopped
        self._thread.quit()

    # -- hooks (plain methods, called in the service thread) ---------------------------------
    def _on_start(self) -> None:
        """Build what lives in the thread (timers, backend objects) and do the first refresh."""

    def _on_settings(self, settings: Settings) -> None:
        """Settings changed after the start; ``self.settings`` already holds them."""

    def _on_close(self) -> None:
        """Close what the service opened (connections, monitors); timers are already stopped."""

    # -- helpers for subclasses --------------------------------------------------------------
    def _timer(self, slot: Callable[[], None], single_shot: bool = True) -> QTimer:
        """A timer in this thread, stopped on shutdown. Single-shot by default: the slot
        re-arms it when done, so a slow tick never piles up."""
        timer = QTimer(self)
        timer.setSingleShot(single_shot)
        timer.timeout.connect(slot)
        self._timers.append(timer)
        return timer

    def _run(
        self,
        op: str,
        subject: str,
        doing: str,
        call: Callable[[], str | None],
        failed: str = "",
    ) -> None:
        """Run one request: ``operationStarted``, the call, then ``operationFinished`` with its
        message (None: the outcome is reported later, e.g. when a worker is online) or with
        the failure described (after ``failed``, e.g. "Nothing sent", when given); afterwards
        :meth:`_after_operation`."""
        if self._closing:
            return
        self.operationStarted.emit(op, subject, doing)
        try:
            message = call()
        except Exception as exc:
            self._failed(op, subject, exc, failed)
        else:
            if message is not None:
                self.operationFinished.emit(op, subject, True, message)
        self._after_operation()

    def _failed(self, op: str, subject: str, exc: BaseException, lead: str = "") -> None:
        """An operation's failure as a message (the one path: :func:`describe`, masked)."""
        if not isinstance(exc, self.expected_errors):
            log.error("%s %s failed", op, subject, exc_info=exc)
        text = describe(exc, self.expected_errors)
        text = f"{lead}: {text}" if lead else text
        self.operationFinished.emit(op, subject, False, self._masked(text))

    def _after_operation(self) -> None:
        """After each request (e.g. a refresh, so its effect shows at once)."""

    def _secrets(self) -> list[str]:
        """Strings to mask in every message besides URL credentials (e.g. a broker password)."""
        return []

    def _masked(self, text: str) -> str:
        try:
            secrets = [s for s in self._secrets() if s]
        except Exception:
            secrets = []  # masking URLs still applies
        return mask_text(text, secrets)


def describe(exc: BaseException, expected: tuple[type[BaseException], ...] = (Exception,)) -> str:
    """The one way a failure reads in the window.

    An expected error reads as its message, capitalised (a ``ParamError``'s problems joined);
    Celery's "failed to get meta" is explained by its cause (the result backend did not
    answer). Any other error keeps its type name in front: it is a bug or an outage to report.
    """
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list) and problems and all(isinstance(p, str) for p in problems):
        text = "; ".join(problems)
    else:
        text = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    if cause is not None and (not text or "failed to get meta" in text.lower()):
        text = f"the result backend did not answer ({str(cause).strip() or type(cause).__name__})"
    text = text or type(exc).__name__
    text = text[:1].upper() + text[1:]
    return text if isinstance(exc, expected) else f"{type(exc).__name__}: {text}"
