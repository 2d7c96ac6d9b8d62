"""The brokers the workers are on, and the remote-control commands that go through them.

Pooldesk's own broker (managed or external) and each project's own broker (one
:class:`Control` per distinct URL, ``project_controls``). A command for a worker goes to the
broker where it answers and nowhere else; listing remote workers asks every broker in use.
Split out of the manager so that it holds the lifecycle, and this the routing.
"""

from __future__ import annotations

from pooldesk.backend.broker.resolve import BrokerConfig, current_config, ensure_broker
from pooldesk.backend.projects.brokers import own_broker
from pooldesk.backend.workers.control import Control, ControlError
from pooldesk.backend.workers.info import WorkerError
from pooldesk.backend.workers.project_controls import ProjectControls
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec


class WorkerBrokers:
    def __init__(self, config: BrokerConfig | None, store: RecordStore) -> None:
        self._config = config
        self._store = store
        self._control: Control | None = None
        self._project_controls = ProjectControls()  # one per distinct project broker

    # -- Pooldesk's broker -------------------------------------------------------------------
    @property
    def config(self) -> BrokerConfig:
        if self._config is None or not self._config.broker_url:
            self._config = current_config()
        return self._config

    def ensure(self) -> BrokerConfig:
        """Pooldesk's broker, started if it is the managed one (before a worker starts on it)."""
        if self._config is None or not self._config.broker_url or self._config.managed:
            self._config = ensure_broker()
            if self._control is not None and self._control.config != self._config:
                self._control.close()
                self._control = None
        return self._config

    @property
    def control(self) -> Control:
        if self._control is None:
            self._control = Control(self.config)
        return self._control

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        self._project_controls.close()

    # -- brokers of projects -----------------------------------------------------------------
    def broker_for(self, spec: WorkerSpec) -> BrokerConfig:
        """The broker this worker is on: its project's own, else Pooldesk's."""
        own = own_broker(spec.project)
        return own if own is not None else self.config

    def control_for(self, spec: WorkerSpec) -> Control:
        """Remote control on the worker's own broker (one connection per distinct broker)."""
        return self._project_controls.for_spec(spec) or self.control

    def sources(self) -> list[tuple[str | None, Control]]:
        """Every broker in use, with the project it belongs to (None: Pooldesk's broker)."""
        mine: list[tuple[str | None, Control]] = [(None, self.control)]
        return (mine if self.config.broker_url else []) + list(
            self._project_controls.in_use(self._store)
        )

    def control_listing(self, hostname: str) -> Control:
        """The control of the broker where ``hostname`` answers (commands go nowhere else)."""
        for _, control in self.sources():
            if hostname in {w.hostname for w in control.remote_workers(timeout=1.0)}:
                return control
        raise WorkerError(f"{hostname} is not a worker on this broker")

    # -- commands to a remote worker ---------------------------------------------------------
    def remote_set_queues(self, hostname: str, queues: tuple[str, ...]) -> list[str]:
        """Make a remote worker consume exactly ``queues`` (add/cancel_consumer)."""
        WorkerSpec(name="remote", queues=tuple(queues)).validate()  # same queue-name checks
        control = self.control_listing(hostname)
        current = {w.hostname: w for w in control.remote_workers(timeout=1.0)}
        worker = current.get(hostname)
        if worker is None:
            raise WorkerError(f"{hostname} is not a worker on this broker")
        switch_queues(control, hostname, worker.queues, queues)
        return list(queues)


def switch_queues(control: Control, hostname: str, old: list[str], new: tuple[str, ...]) -> None:
    """Add the consumers ``new`` has and ``old`` lacks, then cancel the ones it dropped."""
    try:
        for queue in new:
            if queue not in old:
                control.add_consumer(hostname, queue)
        for queue in old:
            if queue not in new:
                control.cancel_consumer(hostname, queue)
    except ControlError as exc:
        raise WorkerError(str(exc)) from exc
