"""What ``--help`` says besides each option's own text: defaults, examples and exit codes.

Why here and not beside every ``add_argument``: the same words apply to every command (exit
codes, what ``--json`` promises) and the examples read best per command, in one place that a
reviewer can compare with README's tour. Each option's own help text stays where it is defined;
``tests/unit/test_cli_help.py`` fails when one is missing.
"""

from __future__ import annotations

import argparse

JSON_HELP = "print stable JSON on stdout instead of text (see README, --json output)"

EXIT_CODES = """exit codes:
  0  done
  1  the request failed (broker unreachable, a worker crashed, a batch child failed with --wait)
  2  bad input: one line on stderr, nothing started or written"""

# Command path → examples, as a user would type them (the README's five-minute tour).
EXAMPLES: dict[str, list[str]] = {
    "": [
        "pooldesk                                     # the window",
        "pooldesk worker start inv -P prefork -c 2 -Q invoices,orchestration --wait",
        "pooldesk batch invoices --all --chunk-size 500 --wait",
        "pooldesk fit --seconds 10",
        "pooldesk tasks list --state FAILURE --since 1h",
    ],
    "worker start": [
        "pooldesk worker start inv -P prefork -c 2 -Q invoices --wait",
        "pooldesk worker start mon -P gevent -c 200 -Q monitoring",
        "pooldesk worker start led --project ledger -Q ledger-posting -- --without-heartbeat",
    ],
    "worker stop": ["pooldesk worker stop inv", "pooldesk worker stop inv --cold"],
    "worker resize": ["pooldesk worker resize inv 4", "pooldesk worker resize w@otherhost 8"],
    "batch invoices": ["pooldesk batch invoices --customers 600 --chunk-size 100 --wait"],
    "batch monitor": ["pooldesk batch monitor --urls urls.txt --timeout 5 --wait"],
    "batch run": [
        "pooldesk batch run --project shop --task shop.tasks.bill --items customers.csv "
        "--chunk-size 500 --dry-run",
        "pooldesk batch run --project shop --task shop.tasks.report --range 1:40 --wait",
    ],
    "project add": [
        "pooldesk project add ledger --venv ~/src/ledger/.venv --workdir ~/src/ledger "
        "--app ledger.celery:app --env-file ~/src/ledger/.env",
    ],
    "tasks retry": [
        "pooldesk tasks retry 3f2a",
        "pooldesk tasks retry 3f2a --args '[2, 3]' --queue ledger-posting",
    ],
    "metrics serve": ["pooldesk metrics serve --port 9808"],
    "audit": ["pooldesk audit", "pooldesk audit --project ledger --json"],
    "completion": [
        "pooldesk completion bash > ~/.local/share/bash-completion/completions/pooldesk"
    ],
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and appends a real default to an option's help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            text
            and "default" not in text
            and action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and not isinstance(default, list)
        ):
            text += f" (default: {default})"
        return text


def finish(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Examples and exit codes in every command's epilog; ``--json``'s one meaning."""
    parts = [parser.epilog] if parser.epilog else []
    if path in EXAMPLES:
        parts.append("examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[path]))
    parts.append(EXIT_CODES)
    parser.epilog = "\n\n".join(parts)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                finish(sub, f"{path} {name}".strip())
        elif "--json" in action.option_strings and not action.help:
            action.help = JSON_HELP
