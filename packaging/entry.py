"""Entry script of the frozen (PyInstaller) Pooldesk executable.

A frozen executable has no ``-m`` switch: ``pooldesk -m pooldesk.backend.workers.supervise …`` would
reach the CLI parser as an unknown option. Pooldesk starts its worker processes exactly that way
(``sys.executable -m pooldesk.backend.workers.supervise …`` in ``backend/workers/process.py`` and
``sys.executable -m _pooldesk_probe …`` in ``backend/workers/supervise.py``), so this script
recognises those argv forms and runs the module's ``main()``; anything else is the normal
``pooldesk`` command (``pooldesk.backend.cli.entry``). Only the modules listed in ``MODULES`` are
run: the frozen executable is not a general Python interpreter.

It also works unfrozen (``python packaging/entry.py …``), which is how the tests exercise it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def _supervise(args: list[str]) -> None:
    from pooldesk.backend.workers import supervise

    sys.argv = ["pooldesk.backend.workers.supervise", *args]
    supervise.main()


def _probe(args: list[str]) -> None:
    # As in a worker started by the supervisor: the stand-alone in-worker modules by their own
    # top-level names (the probe imports its sibling ``_pooldesk_fit`` that way).
    from pooldesk.backend.workers import inworker

    sys.path.insert(0, str(inworker.path()))
    import _pooldesk_probe  # type: ignore[import-not-found]

    sys.argv = ["_pooldesk_probe", *args]
    _pooldesk_probe.main(args)


def _check(args: list[str]) -> None:
    from pooldesk.backend.workers.inworker import _pooldesk_check

    sys.argv = ["_pooldesk_check", *args]
    _pooldesk_check.main(args)


def _config(args: list[str]) -> None:
    from pooldesk.backend.workers.inworker import _pooldesk_config

    sys.argv = ["_pooldesk_config", *args]
    _pooldesk_config.main(args)


def _module_main(module: str) -> Callable[[list[str]], None]:
    """A ``python -m MODULE ARGS`` stand-in for modules with a ``main()`` reading ``sys.argv``."""

    def run(args: list[str]) -> None:
        import importlib

        sys.argv = [module, *args]
        importlib.import_module(module).main()

    return run


MODULES: dict[str, Callable[[list[str]], None]] = {
    "pooldesk.backend.workers.supervise": _supervise,
    "_pooldesk_probe": _probe,
    "_pooldesk_check": _check,  # `project check` of the demo (Pooldesk's own interpreter)
    "_pooldesk_config": _config,  # `pooldesk audit` of the demo: its settings and sources
    # the task-history recorder and its supervisor (backend/taskhistory/service.py)
    "pooldesk.backend.taskhistory.supervise": _module_main(
        "pooldesk.backend.taskhistory.supervise"
    ),
    "pooldesk.backend.taskhistory.recorder": _module_main("pooldesk.backend.taskhistory.recorder"),
}


def dispatch(argv: list[str]) -> Callable[[], None] | None:
    """The ``-m MODULE`` runner for this argv (``argv[1:]``), or None for the CLI."""
    if len(argv) >= 2 and argv[0] == "-m":
        runner = MODULES.get(argv[1])
        if runner is None:
            sys.stderr.write(f"pooldesk: -m {argv[1]}: not a module this executable runs\n")
            raise SystemExit(2)
        rest = argv[2:]
        return lambda: runner(rest)
    return None


def main() -> None:
    runner = dispatch(sys.argv[1:])
    if runner is not None:
        runner()
        return
    from pooldesk.backend.cli import entry

    entry()


if __name__ == "__main__":
    main()
