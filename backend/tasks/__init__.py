"""Celery tasks run by Pooldesk's own workers."""
