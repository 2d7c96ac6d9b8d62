"""About Pooldesk: what is installed (for a bug report) and the way to the logs."""

from __future__ import annotations

from PySide6.QtCore import QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend import paths
from pooldesk.backend.about import versions


def about_versions() -> dict[str, str]:
    """The backend's list plus the Qt library actually loaded (may differ from PySide6's)."""
    out = versions()
    out["Qt"] = qVersion()
    return out


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Pooldesk")
        self.versions = about_versions()
        intro = QLabel(
            f"<b>Pooldesk {self.versions['Pooldesk']}</b><p>A control panel for the people who "
            "run Celery: start workers with the right pool, watch them, stop them cleanly.</p>"
        )
        intro.setWordWrap(True)
        form = QFormLayout()
        for name, version in self.versions.items():
            value = QLabel(version)
            value.setObjectName(f"version-{name}")
            form.addRow(f"{name}:", value)
        self.log_dir = paths.app_logs_dir()
        logs = QLabel(str(self.log_dir))
        logs.setWordWrap(True)
        form.addRow("Logs:", logs)
        form.addRow("Data:", QLabel(str(paths.home())))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_logs = QPushButton("Open log folder")
        self.copy = QPushButton("Copy versions")
        buttons.addButton(self.open_logs, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.open_logs.clicked.connect(self._open_logs)
        self.copy.clicked.connect(self._copy)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def text(self) -> str:
        """Plain text to paste into a bug report (no paths: they can name the user)."""
        return "\n".join(f"{name}: {version}" for name, version in self.versions.items())

    def _open_logs(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_dir)))

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
