"""The main window: pages in a stack with a sidebar, their actions in the menu and toolbar, the
broker line (``broker_line.py``) in the status bar, and the window's size, position and last
page remembered.

Navigation only. What feeds the pages (the services in their threads), the tray, the close
flow and the operation messages are built and wired by the composition root,
``desktop/shell/root.py``: this window knows no service, so its pages can be driven by fakes.
Pages: Overview (warnings and charts), Workers, Batches, Tasks and Settings; more are added with
``add_page``. A warnings banner above the pages shows the advisor's worst warning everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend import paths
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.settings import Settings
from pooldesk.backend.workers import presets as presets_mod
from pooldesk.desktop import resources
from pooldesk.desktop.settings_hub import SettingsHub
from pooldesk.desktop.views.broker_line import BrokerLine
from pooldesk.desktop.views.warnings_panel import WarningsBanner

if TYPE_CHECKING:
    from pooldesk.desktop.views.tasks_page import TasksPage

MESSAGE_MS = 10_000
DEFAULT_SHARE = 0.8  # of the screen's available area, for a first window
DEFAULT_MAX = (1600, 1000)  # px: wider reads worse on a big monitor
NAV_ICON = 20  # px, the sidebar's page icons


class MainWindow(QMainWindow):
    def __init__(self, hub: SettingsHub, tasks_page: TasksPage | None) -> None:
        """``tasks_page=None``: only the frame now (sidebar, status bar, menus), the pages
        later through :meth:`build_pages` — the window paints before pyqtgraph and the
        backend's heavier modules are imported (``desktop/app.py``, ``bench/startup.py``)."""
        super().__init__()
        self.hub_for_pages = hub
        self.setWindowTitle("Pooldesk")
        self.setWindowIcon(resources.app_icon())
        # Asked before the window closes (the shell's close flow): False keeps it open.
        self.close_guard: Callable[[], bool] | None = None
        self.closed = False
        self._any_worker = True  # until the first worker list says otherwise

        # The sidebar (styled in style.qss, QListWidget#navigation) runs the full height on
        # the left. To its right a header of fixed height (the page's title, its toolbar and the
        # warnings banner) sits above the pages: a page with a toolbar, or a banner appearing,
        # moves nothing (a toolbar of the window's own pushed the sidebar 47 px down on Workers
        # and Batches, so a click at the same spot opened another page).
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setAccessibleName("Pages")
        self.nav.setFrameShape(QFrame.Shape.NoFrame)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.setIconSize(QSize(NAV_ICON, NAV_ICON))
        self.nav.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        nav_font = self.nav.font()
        nav_font.setPointSizeF(nav_font.pointSizeF() * 1.1)  # relative: follows the system size
        self.nav.setFont(nav_font)
        self.pages = QStackedWidget()
        self.banner = WarningsBanner()
        self.page_title = QLabel()
        self.page_title.setObjectName("pageTitle")
        title_font = self.page_title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.25)
        title_font.setBold(True)
        self.page_title.setFont(title_font)
        self.toolbar = QToolBar("Main")
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header = QFrame()
        self.header.setObjectName("pageHeader")
        header_row = QHBoxLayout(self.header)
        header_row.setContentsMargins(12, 0, 6, 0)
        header_row.setSpacing(8)
        header_row.addWidget(self.page_title)
        header_row.addWidget(self.toolbar)
        header_row.addStretch(1)
        # The banner takes what the toolbar leaves, its text cut rather than the toolbar's.
        self.banner.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.banner.label.setMinimumWidth(120)
        self.banner.label.setTextFormat(Qt.TextFormat.RichText)
        header_row.addWidget(self.banner, 3, Qt.AlignmentFlag.AlignVCenter)
        self.header.setFixedHeight(self._header_height())
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.header)
        column.addWidget(self.pages, 1)
        row.addLayout(column, 1)
        self.setCentralWidget(central)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.currentRowChanged.connect(self._page_changed)

        # Shown only while the current page has actions; it lives in the fixed header, so
        # showing or hiding it moves nothing.
        self.toolbar.toggleViewAction().setVisible(False)

        self.broker_line = BrokerLine(self.statusBar())
        self.broker_label = self.broker_line.label

        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self.show_settings)
        self.file_menu = self.menuBar().addMenu("&File")
        self.file_menu.addAction(self.settings_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)
        self.loading = QLabel("Loading…")  # the page area until build_pages
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(self.loading)
        self._fit_nav()  # the sidebar's width from the first paint: no jump when pages come
        self._restore_geometry()
        if tasks_page is not None:
            self.build_pages(tasks_page)

    def build_pages(self, tasks_page: TasksPage) -> None:
        """The pages, their menus and the links between them; then the last page shown."""
        from pooldesk.desktop.views.audit_page import AuditPage
        from pooldesk.desktop.views.batches_page import BatchesPage
        from pooldesk.desktop.views.overview_page import OverviewPage
        from pooldesk.desktop.views.settings.page import SettingsPage
        from pooldesk.desktop.views.workers_page import WorkersPage

        hub = self.hub_for_pages
        self.pages.removeWidget(self.loading)
        self.loading.deleteLater()
        self.overview_page = OverviewPage()
        self.add_page(self.overview_page, "&Overview")
        self.workers_page = WorkersPage()
        self.add_page(self.workers_page, "&Workers")
        self.batches_page = BatchesPage()
        self.add_page(self.batches_page, "&Batches")
        self.tasks_page = tasks_page
        self.add_page(self.tasks_page, "&Tasks")
        self.audit_page = AuditPage()  # the configuration audit (backend/audit)
        self.add_page(self.audit_page, "&Audit")
        self.overview_page.audit_card.openRequested.connect(
            lambda: self.nav.setCurrentRow(self.pages.indexOf(self.audit_page))
        )
        self.settings_page = SettingsPage(hub)
        self.add_page(self.settings_page, "&Settings")
        self.settings_page.saved.connect(self._settings_saved)
        about = QAction("&About Pooldesk", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._about)
        self.menuBar().addMenu("&Help").addAction(about)
        self.overview_page.first_run.addProjectRequested.connect(self._add_project)
        self.overview_page.first_run.demoRequested.connect(self._try_demo)
        self.overview_page.batchOpenRequested.connect(self.open_batch)
        self.banner.showRequested.connect(self.show_overview)
        self.batches_page.startWorkersRequested.connect(self.workers_page.start_for_queues)
        self.settings_page.projects_section.changed.connect(self.update_first_run)
        for action in (
            self.batches_page.launch_invoices_action,
            self.batches_page.launch_monitoring_action,
            self.batches_page.launch_project_action,
        ):
            action.triggered.connect(self.show_batches)
        self._restore_page()

    # -- structure ---------------------------------------------------------------------------
    def add_page(self, page: QWidget, menu_title: str) -> None:
        """A page with its own actions (``actions_for_menu``) gets a menu; the toolbar shows the
        current page's ``actions_for_toolbar`` (default: the menu's), so no page's buttons act
        while another page is on screen."""
        self.pages.addWidget(page)
        title = getattr(page, "title", menu_title.replace("&", ""))
        item = QListWidgetItem(title)
        item.setIcon(resources.page_icon(title.lower()))
        self.nav.addItem(item)
        self._fit_nav()
        self._page_shortcut(self.nav.count() - 1)
        self.nav.setVisible(self.nav.count() > 1)  # one page: no navigation to show
        if self.nav.currentRow() < 0:
            self.nav.setCurrentRow(0)
        actions = page.actions_for_menu() if hasattr(page, "actions_for_menu") else []
        if actions:
            menu = self.menuBar().addMenu(menu_title)
            menu.addActions(actions)

    def _header_height(self) -> int:
        """Tall enough for a toolbar with an icon-and-text button and for the banner."""
        probe = QAction(resources.app_icon(), "Start…", self.toolbar)
        self.toolbar.addAction(probe)
        tall = self.toolbar.sizeHint().height()
        self.toolbar.removeAction(probe)
        return max(tall, self.banner.sizeHint().height(), 40) + 4

    def _page_shortcut(self, row: int) -> None:
        """Ctrl+1…Ctrl+9: the pages in sidebar order, however many there are."""
        if row >= 9:
            return
        action = QAction(self)
        action.setShortcut(QKeySequence(f"Ctrl+{row + 1}"))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False, r=row: self.nav.setCurrentRow(r))
        self.addAction(action)
        item = self.nav.item(row)
        item.setToolTip(f"{item.text()} (Ctrl+{row + 1})")

    def _page_changed(self, row: int) -> None:
        page = self.pages.widget(row)
        item = self.nav.item(row)
        self.page_title.setText(item.text() if item is not None else "")
        self.banner.set_suppressed(page is getattr(self, "overview_page", None))
        self.toolbar.clear()  # removes the buttons; the actions belong to their pages
        for name in ("actions_for_toolbar", "actions_for_menu"):
            if hasattr(page, name):
                actions = getattr(page, name)()
                self.toolbar.addActions(actions)
                for action in actions:  # "Start from preset ▾": one click opens the list
                    button = self.toolbar.widgetForAction(action)
                    if action.menu() is not None and isinstance(button, QToolButton):
                        # The arrow beside the label (style.qss: QToolButton[popupMode="2"]).
                        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
                        button.style().unpolish(button)  # re-match the [popupMode] rule
                        button.style().polish(button)
                break
        self._update_toolbar()

    def _update_toolbar(self) -> None:
        """No empty band: the toolbar shows only while the current page put actions on it."""
        self.toolbar.setVisible(bool(self.toolbar.actions()))

    def _fit_nav(self) -> None:
        """The sidebar as wide as its longest label (with icon and padding), never narrower
        than a comfortable minimum; it does not stretch with the window."""
        metrics = QFontMetrics(self.nav.font())
        longest = max(
            (metrics.horizontalAdvance(self.nav.item(r).text()) for r in range(self.nav.count())),
            default=0,
        )
        # icon + gap + the item's padding and margins in style.qss (12 + 12, 6 + 6) + slack
        self.nav.setFixedWidth(max(150, longest + NAV_ICON + 10 + 24 + 12 + 16))

    def _refresh_nav_icons(self) -> None:
        for row in range(self.nav.count()):
            item = self.nav.item(row)
            item.setIcon(resources.page_icon(item.text().lower()))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            resources.follow_palette(QApplication.instance())
            self._refresh_nav_icons()  # drawn in the palette's text colours
        super().changeEvent(event)

    # -- where to go -------------------------------------------------------------------------
    def show_overview(self) -> None:
        self.nav.setCurrentRow(self.pages.indexOf(self.overview_page))

    def show_batches(self) -> None:
        self.nav.setCurrentRow(self.pages.indexOf(self.batches_page))

    def open_batch(self, batch_id: str) -> None:
        self.show_batches()
        self.batches_page.select(batch_id)

    def show_settings(self) -> None:
        self.nav.setCurrentRow(self.pages.indexOf(self.settings_page))

    def _add_project(self) -> None:
        self.show_settings()
        self.settings_page.projects_section.open_add()

    def _try_demo(self) -> None:
        """The demo presets, each started once; then the Workers page shows them coming up."""
        for index in range(len(self.workers_page.presets)):
            self.workers_page.start_preset(index)
        self.nav.setCurrentRow(self.pages.indexOf(self.workers_page))

    def update_first_run(self, workers: list[Any] | None = None) -> None:
        """No project and no worker: the Overview offers the first steps instead of charts."""
        if workers is not None:
            self._any_worker = bool(workers)
        first = not self._any_worker and not ProjectStore().names()
        self.overview_page.set_first_run(first)

    # -- what the services say ---------------------------------------------------------------
    def apply_settings(self, settings: Settings) -> None:
        """Presets apply at once: the Workers page's Start from preset menu follows them; so
        does the appearance (system, light or dark)."""
        self.workers_page.set_presets(presets_mod.effective_presets(settings.presets))
        app = QApplication.instance()
        if app is not None and app.property("pooldeskAppearance") != settings.appearance:
            app.setProperty("pooldeskAppearance", settings.appearance)
            resources.apply_appearance(app, settings.appearance)

    def _settings_saved(self, _settings: Settings) -> None:
        self.statusBar().showMessage("Settings saved.", MESSAGE_MS)

    def open_messages(self) -> list[QMessageBox]:
        return [box for box in self.findChildren(QMessageBox) if box.isVisible()]

    def _about(self) -> None:
        from pooldesk.desktop.views.about_dialog import AboutDialog

        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # -- closing and geometry ----------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """The close guard may keep the window open (a question, workers stopping first);
        once it lets go, the geometry is saved for the next window."""
        if not self.closed:
            if self.close_guard is not None and not self.close_guard():
                event.ignore()
                return
            self.closed = True
            self._save_geometry()
        super().closeEvent(event)

    def _settings(self) -> QSettings:
        """Window geometry only, under ``$POOLDESK_HOME`` (never the user's global config)."""
        return QSettings(str(paths.home() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        """A saved geometry only while it still fits the screen it would open on (a laptop
        undocked from its monitor gets a fresh size); else 80 % of the screen's available
        area, capped, centred."""
        settings = self._settings()
        geometry = settings.value("main/geometry")
        if geometry is None or not self.restoreGeometry(geometry) or not self._fits_screen():
            self._default_geometry()
        state = settings.value("main/state")
        if state is not None:
            self.restoreState(state)
            self._update_toolbar()  # the saved state may carry another page's visibility

    def _restore_page(self) -> None:
        settings = self._settings()
        titles = [self.nav.item(row).text() for row in range(self.nav.count())]
        page = settings.value("main/page")
        if isinstance(page, str) and page in titles:
            self.nav.setCurrentRow(titles.index(page))

    def _fits_screen(self) -> bool:
        screen = QApplication.screenAt(self.frameGeometry().center()) or self.screen()
        if screen is None:
            return True
        return screen.availableGeometry().contains(self.frameGeometry())

    def _default_geometry(self) -> None:
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            self.resize(*DEFAULT_MAX)
            return
        area = screen.availableGeometry()
        width = min(int(area.width() * DEFAULT_SHARE), DEFAULT_MAX[0])
        height = min(int(area.height() * DEFAULT_SHARE), DEFAULT_MAX[1])
        self.setGeometry(
            area.x() + (area.width() - width) // 2,
            area.y() + (area.height() - height) // 2,
            width,
            height,
        )

    def _save_geometry(self) -> None:
        settings = self._settings()
        settings.setValue("main/geometry", self.saveGeometry())
        settings.setValue("main/state", self.saveState())
        item = self.nav.currentItem()
        if item is not None:
            settings.setValue("main/page", item.text())
        settings.sync()
