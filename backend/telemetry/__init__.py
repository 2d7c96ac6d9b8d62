"""Telemetry without Qt: resource sampling (psutil) and the Celery event monitor.

``sampler.ResourceSampler`` + ``sampler.SamplerThread``: system and per-worker CPU/memory into
ring buffers. ``events.EventMonitor``: one receiver thread folding the event stream into
bounded per-worker/queue/batch state, read as immutable, coalesced snapshots. A thin Qt
adapter in ``desktop/`` turns both into signals; nothing here imports Qt.
"""
