"""Local workers run at a lower CPU priority than the window that controls them.

Why: on a desktop, CPU-bound workers (prefork invoice chunks) saturate every core, and the
panel an ops person uses to *stop* them would then stall for hundreds of milliseconds (measured
in ``bench/gui_responsiveness.py``: the GUI thread spent two thirds of each long stall waiting
for a core). Niceness only matters when the machine is saturated; an idle core is still used.

On Linux with scheduler autogroups (the default), each session competes as one group, and every
worker starts its own session (``start_new_session``), so the process nice value alone changes
nothing between groups: the group's own nice value (``/proc/self/autogroup``) is set too.
"""

from __future__ import annotations

import contextlib
import os

NICE_ENV = "POOLDESK_WORKER_NICE"
AUTOGROUP = "/proc/self/autogroup"


def lower_priority(nice: int) -> int:
    """Raise this process's nice value to ``nice`` (never lower it); returns the value now in
    force. Children inherit it. Failures (no permission, no autogroups) are harmless."""
    nice = max(0, min(19, int(nice)))
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, nice)
    if nice > 0 and os.path.exists(AUTOGROUP):
        with contextlib.suppress(OSError), open(AUTOGROUP, "w", encoding="ascii") as group:
            group.write(str(nice))
    return os.getpriority(os.PRIO_PROCESS, 0)


def from_env(default: int = 0) -> int:
    """The nice value the panel asked for (``POOLDESK_WORKER_NICE``), or ``default``."""
    try:
        return int(os.environ.get(NICE_ENV, default))
    except ValueError:
        return default
