"""Icons and the stylesheet, installed as ``pooldesk.resources`` and read through
importlib.resources."""
