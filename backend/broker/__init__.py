"""The message broker: Pooldesk's own managed redis-server, or an external one the user names."""

from pooldesk.backend.broker.errors import BrokerError, BrokerUnreachable
from pooldesk.backend.broker.resolve import BrokerConfig, current_config, ensure_broker

__all__ = ["BrokerConfig", "BrokerError", "BrokerUnreachable", "current_config", "ensure_broker"]
