from pooldesk.backend.cli import entry

entry()
