"""Prometheus exposition of what Pooldesk measures (off by default, 127.0.0.1 only)."""
