"""A size-rotated log writer for a worker's merged stdout/stderr."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from pooldesk.backend.units import MiB

MAX_BYTES = 10 * MiB
BACKUPS = 3


class RotatingWriter:
    """Appends bytes; past ``max_bytes`` renames NAME.log → NAME.log.1 … and starts afresh."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._fh: BinaryIO = self._open()

    def _open(self) -> BinaryIO:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab", buffering=0)

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        if self._fh.tell() >= self.max_bytes:
            self.rotate()

    def rotate(self) -> None:
        self._fh.close()
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = self._open()

    def close(self) -> None:
        self._fh.close()
