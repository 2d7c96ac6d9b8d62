"""packaging/pooldesk-agent.service: the agent's systemd user unit keeps workers alive."""

from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "pooldesk-agent.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_restarts_the_agent_alone_and_sets_broker_and_key() -> None:
    service = _unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["KillMode"] == "process"  # workers outlive the agent
    assert service["ExecStart"].endswith("pooldesk agent serve")
    text = UNIT.read_text()
    assert "Environment=POOLDESK_BROKER_URL=" in text
    assert "Environment=POOLDESK_FLEET_KEY_FILE=" in text
    assert _unit()["Install"]["WantedBy"] == "default.target"  # a user unit
