"""Broker failures, phrased for a person: the CLI prints ``str(exc)`` as its one line."""


class BrokerError(RuntimeError):
    """The managed broker could not be started or stopped."""


class BrokerUnreachable(BrokerError):
    """A broker URL is configured (or recorded) but nothing answers there."""
