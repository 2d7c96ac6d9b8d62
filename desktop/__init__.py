"""Pooldesk's window: a PySide6 client of :mod:`backend` (the CLI is the other one).

Layout: ``controller`` (the only place that calls the backend, in its own thread) →
``models`` (Qt item models) → ``views`` (widgets). ``resources`` finds icons and the stylesheet,
``formatting`` turns backend values into the words and numbers the window shows.
"""
