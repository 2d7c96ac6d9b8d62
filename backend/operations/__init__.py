"""The operations API: one way to start, stop, restart, resize, re-queue, read, forget and fix a
worker, for the CLI, the window's service and the fleet agent alike (``service.Operations``).

Requests and outcomes are JSON-able data (``request``); the rest are the steps every caller
shares: the pre-start check (``preflight``), the watch of a start (``watch``), remote Celery nodes
(``remote``), advisor fixes (``fixes``) and secret masking (``masking``).
"""

from pooldesk.backend.operations.request import Outcome, Request, RequestError
from pooldesk.backend.operations.service import Operations
from pooldesk.backend.operations.texts import doing

__all__ = ["Operations", "Outcome", "Request", "RequestError", "doing"]
