"""One window per data directory: a second launch raises the first instead of opening twice.

Why: two windows on one ``$POOLDESK_HOME`` would both poll, both adopt the same workers, both
answer the close question and both write ``window.ini``. A local socket named after the data
directory (hashed: names are short and must not leak paths) is the lock *and* the channel:
the second process connects, says ``raise``, and exits; a stale socket left by a crashed
window is removed when nobody answers on it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from pooldesk.backend import paths

CONNECT_TIMEOUT_MS = 500
RAISE = b"raise\n"


def server_name(home: Path | None = None) -> str:
    digest = hashlib.sha256(str((home or paths.home()).resolve()).encode()).hexdigest()[:16]
    return f"pooldesk-{digest}"


def ask_running_to_raise(name: str) -> bool:
    """True when a window already serves ``name`` (it has been asked to come forward)."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    socket.write(RAISE)
    socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    socket.disconnectFromServer()
    return True


class InstanceGuard(QObject):
    """Listens on the data directory's socket; emits :attr:`raiseRequested` per second launch."""

    raiseRequested = Signal()

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or server_name()
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        """Take the name; False if another live window holds it."""
        if ask_running_to_raise(self.name):
            return False
        QLocalServer.removeServer(self.name)  # a stale socket of a window that crashed
        return self._server.listen(self.name)

    @property
    def listening(self) -> bool:
        return self._server.isListening()

    def close(self) -> None:
        self._server.close()

    def _on_connection(self) -> None:
        # The other process writes its one line right after connecting, so reading it here
        # waits a few milliseconds at most (bounded by CONNECT_TIMEOUT_MS).
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            if socket.bytesAvailable() or socket.waitForReadyRead(CONNECT_TIMEOUT_MS):
                asked = bytes(socket.readAll().data()).startswith(RAISE.strip())
            else:
                asked = False
            socket.abort()
            socket.deleteLater()
            if asked:
                self.raiseRequested.emit()
