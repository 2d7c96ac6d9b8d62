"""Reading a worker's log (written by its supervisor through ``logfile.RotatingWriter``).

Separate from the manager because reading needs nothing but the file: the last lines for the
window and ``pooldesk worker logs``, and a ``tail -f`` that survives rotation for ``--follow``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from pooldesk.backend.fsutil import tail_lines


def tail(path: Path, lines: int = 50) -> list[str]:
    """The last ``lines`` lines (reading at most what that many long lines could take)."""
    return tail_lines(path, lines, max_bytes=max(64 * 1024, lines * 400))


def follow(path: Path, poll: float = 0.25) -> Iterator[str]:
    """``tail -f`` that survives rotation (the file is replaced by a new, smaller one)."""
    position = path.stat().st_size if path.exists() else 0
    inode = path.stat().st_ino if path.exists() else None
    while True:
        if not path.exists():
            time.sleep(poll)
            continue
        stat = path.stat()
        if stat.st_ino != inode or stat.st_size < position:
            inode, position = stat.st_ino, 0
        if stat.st_size > position:
            with path.open("rb") as fh:
                fh.seek(position)
                data = fh.read()
                position = fh.tell()
            yield from data.decode("utf-8", "replace").splitlines()
        else:
            time.sleep(poll)
