from backend.cli import entry

entry()
