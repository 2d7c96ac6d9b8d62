"""Icons, the stylesheet and the state colours, all read from the ``resources/`` folder
(installed as the ``pooldesk.resources`` package).

``style.qss`` is plain QSS except for a few ``@name`` tokens: the state colours, declared once at
its top with a light-palette and a dark-palette variant, so the labels styled by QSS and the workers
table (which asks :func:`state_color`) use the same colours.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

_DEFINE = re.compile(r"@define\s+([a-z-]+)\s+(#[0-9a-fA-F]{6})\s+(#[0-9a-fA-F]{6})")
_TOKEN = re.compile(r"@([a-z][a-z-]*)\b")
ICON_SIZES = (16, 20, 24, 32, 48)


def resource_dir() -> Path:
    """The installed ``pooldesk.resources`` package's folder (a checkout's ``resources/``, the
    wheel's ``pooldesk/resources/``, or the bundle's copy under ``sys._MEIPASS``).

    Found through importlib.resources rather than a path relative to this file, because the
    folders are mapped into the ``pooldesk`` namespace and need not sit side by side when
    installed. Qt wants real file paths, and every way Pooldesk is installed has them.
    """
    return Path(str(files("pooldesk.resources")))


def path(name: str) -> Path:
    return resource_dir() / name


# -- palette ---------------------------------------------------------------------------------
def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


@cache
def _stylesheet_source() -> str:
    return path("style.qss").read_text(encoding="utf-8")


@cache
def _colours(dark: bool) -> dict[str, str]:
    """``{"online": "#2b8a3e", ...}`` for the light (or dark) palette, from style.qss."""
    return {
        name: (dark_value if dark else light_value)
        for name, light_value, dark_value in _DEFINE.findall(_stylesheet_source())
    }


def state_color(state: str, palette: QPalette | None = None) -> QColor:
    """The colour of a worker state (``online-remote`` is ``remote``); grey if unknown."""
    colours = _colours(is_dark(palette))
    key = "remote" if state == "online-remote" else state
    return QColor(colours.get(key, colours.get("stopped", "#808080")))


def stylesheet(palette: QPalette | None = None) -> str:
    """style.qss with its ``@name`` tokens replaced for this palette."""
    colours = _colours(is_dark(palette))
    body = re.sub(r"/\*.*?\*/", "", _stylesheet_source(), flags=re.S)  # drop the @define block

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in colours:
            raise KeyError(f"style.qss uses @{match.group(1)}, which it does not define")
        return colours[match.group(1)]

    return _TOKEN.sub(substitute, body)


# -- icons -----------------------------------------------------------------------------------
def app_icon() -> QIcon:
    return QIcon(str(path("pooldesk.svg")))


def icon(name: str, palette: QPalette | None = None) -> QIcon:
    """A toolbar icon from ``resources/action-NAME.svg``, drawn in the palette's text colour.

    The SVGs use ``currentColor``; Qt's SVG renderer does not resolve it, so it is replaced
    here. Disabled and selected variants are derived by the style as for any pixmap icon.
    """
    palette = palette or QGuiApplication.palette()
    colour = palette.color(QPalette.ColorRole.ButtonText).name()
    return _tinted_icon(f"action-{name}.svg", colour)


def page_icon(name: str, palette: QPalette | None = None) -> QIcon:
    """A sidebar icon from ``resources/page-NAME.svg`` (an empty icon if there is none), drawn
    in the list's text colour, and in the highlighted-text colour for the selected page."""
    if not path(f"page-{name}.svg").is_file():
        return QIcon()
    palette = palette or QGuiApplication.palette()
    return _tinted_icon(
        f"page-{name}.svg",
        palette.color(QPalette.ColorRole.Text).name(),
        palette.color(QPalette.ColorRole.HighlightedText).name(),
    )


@cache
def _tinted_icon(filename: str, colour: str, selected: str | None = None) -> QIcon:
    source = path(filename).read_text(encoding="utf-8")
    result = QIcon()
    modes = [(QIcon.Mode.Normal, colour)] + ([(QIcon.Mode.Selected, selected)] if selected else [])
    for mode, tint in modes:
        renderer = QSvgRenderer(QByteArray(source.replace("currentColor", tint).encode()))
        for size in ICON_SIZES:
            for ratio in (1, 2):
                side = size * ratio
                image = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
                image.fill(Qt.GlobalColor.transparent)
                painter = QPainter(image)
                renderer.render(painter, QRectF(0, 0, side, side))
                painter.end()
                pixmap = QPixmap.fromImage(image)
                pixmap.setDevicePixelRatio(ratio)
                result.addPixmap(pixmap, mode)
    return result


@cache
def dot(colour: str, diameter: int = 10) -> QIcon:
    """A filled circle: the state decoration in the workers table."""
    result = QIcon()
    for ratio in (1, 2):
        side = diameter * ratio
        pixmap = QPixmap(side, side)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawEllipse(QRectF(ratio, ratio, side - 2 * ratio, side - 2 * ratio))
        painter.end()
        pixmap.setDevicePixelRatio(ratio)
        result.addPixmap(pixmap)
    return result


# -- applying --------------------------------------------------------------------------------
def apply_style(app: QCoreApplication | None) -> None:
    """Fusion (it follows the palette, light or dark), the app icon and the stylesheet."""
    if not isinstance(app, QApplication):
        return
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    app.setStyleSheet(stylesheet(app.palette()))
    app.setProperty("pooldeskDark", is_dark(app.palette()))


def apply_appearance(app: QCoreApplication | None, appearance: str) -> None:
    """``system`` follows the desktop's light/dark scheme (Qt 6.5+ style hints, live), or
    ``light``/``dark`` forces one; Fusion derives its palette from the scheme, and the
    stylesheet's state colours follow the palette (``follow_palette``)."""
    if not isinstance(app, QApplication):
        return
    hints = app.styleHints()
    scheme = {
        "light": Qt.ColorScheme.Light,
        "dark": Qt.ColorScheme.Dark,
    }.get(appearance, Qt.ColorScheme.Unknown)  # Unknown: back to the system's
    if hasattr(hints, "setColorScheme"):  # Qt 6.8+
        hints.setColorScheme(scheme)
    # Platforms without a theme (plain X, offscreen) ignore the hint: set the palette.
    wanted_dark = {"light": False, "dark": True}.get(appearance)
    if wanted_dark is None:
        app.setPalette(QPalette())  # the platform's own again
    elif is_dark(app.palette()) != wanted_dark:
        app.setPalette(dark_palette() if wanted_dark else app.style().standardPalette())
    follow_palette(app)


def dark_palette() -> QPalette:
    """Fusion in dark colours, for a forced dark appearance where the platform has none."""
    palette = QPalette()
    role = QPalette.ColorRole
    for name, colour in (
        (role.Window, "#2d2d30"), (role.WindowText, "#e6e6e6"), (role.Base, "#1e1e1e"),
        (role.AlternateBase, "#2a2a2d"), (role.ToolTipBase, "#2d2d30"),
        (role.ToolTipText, "#e6e6e6"), (role.Text, "#e6e6e6"), (role.Button, "#3a3a3d"),
        (role.ButtonText, "#e6e6e6"), (role.BrightText, "#ff6b6b"), (role.Link, "#6cb4ff"),
        (role.Highlight, "#2f7dd1"), (role.HighlightedText, "#ffffff"),
        (role.PlaceholderText, "#8a8a8a"), (role.Mid, "#4a4a4e"), (role.Dark, "#202023"),
        (role.Light, "#505054"), (role.Midlight, "#444448"), (role.Shadow, "#111111"),
    ):  # fmt: skip
        palette.setColor(name, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for name in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, name, QColor("#7a7a7a"))
    return palette


def follow_palette(app: QCoreApplication | None) -> None:
    """After a light/dark switch: re-derive the state colours, if the stylesheet is ours."""
    if not isinstance(app, QApplication) or app.property("pooldeskDark") is None:
        return
    if bool(app.property("pooldeskDark")) != is_dark(app.palette()):
        apply_style(app)
