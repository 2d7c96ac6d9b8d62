"""Shell completion scripts, run in the real shells (bash always; zsh and fish where installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pooldesk.backend.cli.completion import script, walk
from pooldesk.backend.cli.parser import build_parser

CLI = [sys.executable, "-c", "from pooldesk.backend.cli import entry; entry()"]


def _script(shell: str, tmp_path: Path) -> Path:
    result = subprocess.run([*CLI, "completion", shell], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    path = tmp_path / f"pooldesk.{shell}"
    path.write_text(result.stdout)
    return path


def _bash(script_path: Path, line: str) -> list[str]:
    program = f"""
source {script_path}
read -ra COMP_WORDS <<< {line!r}
[[ {line!r} == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}}-1))
_pooldesk
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_bash_completes_commands_options_and_choices(tmp_path: Path) -> None:
    path = _script("bash", tmp_path)
    assert _bash(path, "pooldesk wor") == ["worker"]
    assert _bash(path, "pooldesk worker st") == ["start", "stop"]
    assert _bash(path, "pooldesk worker start w1 --con") == ["--concurrency"]
    assert _bash(path, "pooldesk worker start w1 --pool ") == [
        "prefork",
        "gevent",
        "threads",
        "solo",
    ]
    assert _bash(path, "pooldesk broker s") == ["start", "stop", "status"]


def test_every_command_of_the_parser_completes_in_bash(tmp_path: Path) -> None:
    """Generated from the parser: a command added tomorrow completes without touching this."""
    path = _script("bash", tmp_path)
    for node in walk(build_parser()):
        if node.commands:
            offered = _bash(path, f"pooldesk {node.path} ".replace("  ", " "))
            assert set(node.commands) <= set(offered), node.path


@pytest.mark.program("zsh")
def test_zsh_completes_with_its_own_words_array(tmp_path: Path) -> None:
    path = _script("zsh", tmp_path)
    program = f"""
compdef() {{ :; }}
compadd() {{ shift; print -r -- "$*"; }}
source {path}
words=(pooldesk worker st); CURRENT=3; _pooldesk
words=(pooldesk worker start w1 --pool ''); CURRENT=6; _pooldesk
"""
    out = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    commands, choices = out.stdout.splitlines()
    assert {"start", "stop", "restart", "resize"} <= set(commands.split())
    assert choices.split() == ["prefork", "gevent", "threads", "solo"]


@pytest.mark.program("fish")
def test_fish_completes(tmp_path: Path) -> None:
    path = _script("fish", tmp_path)
    program = f"""source {path}
complete -C 'pooldesk worker st'; echo ---
complete -C 'pooldesk worker start w1 --pool '"""
    out = subprocess.run(["fish", "-c", program], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and not out.stderr, out.stderr
    commands, choices = out.stdout.split("---")
    assert commands.split() == ["start", "stop"]
    assert sorted(choices.split()) == ["gevent", "prefork", "solo", "threads"]


def test_unknown_shell_is_bad_input() -> None:
    result = subprocess.run(
        [*CLI, "completion", "tcsh"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "invalid choice" in result.stderr
    assert script(build_parser(), "bash").startswith("# bash completion for pooldesk")
