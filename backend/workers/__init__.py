"""Local worker processes (start, stop, adopt, resize) and remote workers on the same broker."""
