"""Widgets: the main window, its pages and dialogs. Views never call the broker."""
