"""Which broker and result backend Pooldesk uses right now, starting the managed one on demand."""

from __future__ import annotations

from dataclasses import dataclass

from pooldesk.backend import settings as settings_mod
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.redact import mask_url


@dataclass(frozen=True)
class BrokerConfig:
    broker_url: str | None  # None: managed broker configured but not started yet
    result_backend: str | None
    managed: bool

    @property
    def masked_url(self) -> str | None:
        return mask_url(self.broker_url)

    @property
    def kind(self) -> str:
        if not self.broker_url:
            return "redis"
        return (
            "amqp"
            if self.broker_url.split("://", 1)[0] in {"amqp", "amqps", "pyamqp"}
            else ("redis")
        )


def _default_backend(broker_url: str | None) -> str | None:
    """Same Redis for results by default; an AMQP broker has no result store, so ``rpc://``."""
    if broker_url is None:
        return None
    return broker_url if broker_url.startswith(("redis://", "rediss://")) else "rpc://"


def current_config(cfg: settings_mod.Settings | None = None, start: bool = False) -> BrokerConfig:
    """The configured broker; with ``start=True`` the managed one is started if needed."""
    cfg = cfg or settings_mod.load().settings
    if cfg.broker_url:
        return BrokerConfig(
            cfg.broker_url, cfg.result_backend or _default_backend(cfg.broker_url), managed=False
        )
    broker = ManagedBroker()
    state = broker.start() if start else broker.current()  # a lost record is found again
    url = state.url if state else None
    return BrokerConfig(url, cfg.result_backend or _default_backend(url), managed=True)


def ensure_broker(cfg: settings_mod.Settings | None = None) -> BrokerConfig:
    """For every command that needs the broker: a worker start, a launch, an inspect."""
    return current_config(cfg, start=True)
