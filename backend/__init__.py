"""Pooldesk's non-Qt core: broker, Celery app, worker management, telemetry and the CLI.

Nothing in this package may import Qt: the CLI, the tests and remote tooling use it headless.
"""

__version__ = "0.1.0"
