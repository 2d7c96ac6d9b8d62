"""Settings ▸ the page and its sections, one module per section.

Each section is a ``QGroupBox`` that shows its part of :class:`pooldesk.backend.settings.Settings`
(``show``), writes the form back into a ``Settings`` (``apply``), names what is wrong beyond
``Settings.validate()`` (``problems``) and says when it was edited (``changed``). The page
(:mod:`pooldesk.desktop.views.settings.page`) stacks them, checks as you type and saves through the
settings hub. Projects (``desktop/views/projects_section.py``) are saved on their own.

Nothing is imported here, so a section (or ``widgets``) can be imported without the page.
"""
