"""Prometheus exposition of what Pooldesk measures (off by default, 127.0.0.1 only).

The address lives here, in a module that imports nothing, so the CLI's ``--help`` and the
window's menu can name it without loading prometheus_client.
"""

HOST = "127.0.0.1"
DEFAULT_PORT = 9808  # celery-exporter's default port, so existing scrape configs fit
