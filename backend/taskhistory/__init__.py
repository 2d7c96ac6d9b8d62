"""Durable task history: a recorder process per broker folds Celery's task events into SQLite;
the CLI and the window read it (``query``) and act on it (``retry``)."""
