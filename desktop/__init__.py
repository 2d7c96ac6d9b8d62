"""Pooldesk's window: a PySide6 client of :mod:`backend` (the CLI is the other one).

Layout: ``services`` (the only places that call the backend, each in its own thread) →
``models`` (Qt item models) → ``views`` (widgets); ``shell`` builds the services and wires
them. ``resources`` finds icons and the stylesheet, ``formatting`` turns backend values into the
words and numbers the window shows.
"""
