"""``--help`` is a manual: every option explained, defaults shown, examples and exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys

from pooldesk.backend.cli.parser import build_parser

CLI = [sys.executable, "-c", "from pooldesk.backend.cli import entry; entry()"]


def _parsers(
    parser: argparse.ArgumentParser, path: str = ""
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _parsers(sub, f"{path} {name}".strip())
    return found


def test_every_option_and_argument_says_what_it_is_for() -> None:
    missing = [
        f"{path}: {action.option_strings or action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        and not isinstance(action, argparse._SubParsersAction)
        and not action.help
    ]
    assert missing == []


# Commands that report nothing a script would parse: the window, a shell script to source, and
# the parents of subcommands (no handler of their own).
NOT_REPORTING = {"", "gui", "completion", "agent serve"}  # agent serve: a service, logs only


def test_every_command_that_reports_something_offers_json() -> None:
    """Scripts drive Pooldesk through ``--json``; a command without it is a command they cannot
    use safely (text output is for people and may change)."""
    leaves = [
        (path, parser)
        for path, parser in _parsers(build_parser())
        if path not in NOT_REPORTING
        and not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
    ]
    assert len(leaves) > 25  # the walk found the commands
    missing = [
        path
        for path, parser in leaves
        if not any("--json" in action.option_strings for action in parser._actions)
    ]
    assert missing == []


def test_every_command_lists_its_exit_codes() -> None:
    for path, parser in _parsers(build_parser()):
        assert parser.epilog and "exit codes:" in parser.epilog, path


def test_help_shows_defaults_and_examples_as_a_user_reads_them() -> None:
    result = subprocess.run(
        [*CLI, "worker", "start", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    text = result.stdout
    words = " ".join(text.split())  # whatever the terminal's width
    assert "(default: 'default' for the demo; for a project, every queue" in words  # -Q
    assert "(default: INFO)" in text  # --loglevel
    assert "examples:\n  pooldesk worker start inv -P prefork -c 2 -Q invoices --wait" in text
    assert "2  bad input: one line on stderr, nothing started or written" in text
    top = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "pooldesk tasks list --state FAILURE --since 1h" in top
