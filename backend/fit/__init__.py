"""Pool fit: a measured nature per task and queue, and the pool and concurrency that fit it.

Pure functions over the in-worker probe's measurements (``telemetry.fitstate``): no broker, no
processes, so every formula is unit-tested on given numbers.
"""
