"""The configuration audit: a Celery app\x27s settings judged against what its tasks measure."""
