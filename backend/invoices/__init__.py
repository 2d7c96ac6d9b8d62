"""The invoice workload: a realistic, idempotent batch job for Pooldesk to run and watch.

Pure library code with no Celery in it, so it can be tested (and benchmarked) on its own; a
Celery task wraps :func:`pooldesk.backend.invoices.chunk.process_chunk` and retries it on database
errors.

Modules, one responsibility each:

- :mod:`~pooldesk.backend.invoices.db` – tables, engine creation (SQLite or PostgreSQL), schema.
- :mod:`~pooldesk.backend.invoices.seed` – deterministic, idempotent demo customers and usage.
- :mod:`~pooldesk.backend.invoices.billing` – pure money arithmetic (integer cents) and period
  checks.
- :mod:`~pooldesk.backend.invoices.pdf` – one invoice to one PDF file, written atomically.
- :mod:`~pooldesk.backend.invoices.chunk` – bill a chunk of customers for a period, idempotently.
"""
