"""The window's services: the only code in ``desktop/`` that calls the broker, processes or the
history stores, each in a thread of its own, requests in as queued slot calls, results out as
signals.

``base.py`` (:class:`~pooldesk.desktop.services.base.ServiceThread`: the thread's lifecycle, the one
operation signal shape, the one ``describe``, settings given and pushed), ``workers.py`` (start,
stop through the backend's stopper, restart, resize, logs, the broker's status), ``batches.py``
(the only batch poller; launch, cancel, retry, seed), ``telemetry.py`` (sampler, event monitor,
advisor, Prometheus endpoint), ``tasks.py`` (the task history: pages, failure groups, retry,
revoke). The composition root (``desktop/shell/root.py``) builds and wires them.
"""
