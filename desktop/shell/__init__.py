"""The shell: what builds the window's services and wires them (the composition root), and the
window-level behaviours that are not navigation: tray and notifications, the close flow, the
operation messages, and the one settings object everything reads."""
