"""The shell: the composition root (``root.py``: builds the services, wires them to the pages)
and the window-level behaviours that are not navigation: tray and notifications
(``tray.py``), the close flow (``closing.py``) and the operation messages (``operations.py``).

Views never import from here; the settings every part reads is ``desktop/settings_hub.py``,
which views may use.
"""
