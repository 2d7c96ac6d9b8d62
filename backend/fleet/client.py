"""The panel's side of a command: send it signed, then collect its signed replies.

Non-blocking: :meth:`FleetClient.send` publishes and returns the request id; :meth:`poll`
returns the replies that arrived (each an Outcome's JSON); :meth:`wait` is the CLI's loop over
``poll`` until the final one. A reply is accepted only when its signature is good, it is
addressed to this panel, it answers a request this client sent, and it comes from the host that
request was sent to: a forged or stray reply is dropped (and counted in ``rejected``).

No reply at all within the timeout means the host's agent is not running, or holds another
key (it refuses such a command and logs it, without answering): :func:`silence` says both.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from pooldesk.backend.fleet import transport
from pooldesk.backend.fleet.key import NO_KEY, FleetKeyError
from pooldesk.backend.fleet.link import Link
from pooldesk.backend.fleet.probe import default_host_name
from pooldesk.backend.fleet.sign import HOST_RE, WINDOW_S, Refused, Verifier, seal

log = logging.getLogger(__name__)

PATIENCE_S = 120.0  # of silence once the host has answered (each pending reply restarts it)


def silence(host: str, seconds: float) -> str:
    return (
        f"no answer from host {host} within {seconds:.0f} s: its agent is not running "
        "(pooldesk host list), or it holds another fleet key and refused the command "
        "(see the agent's log)"
    )


class FleetClient:
    def __init__(self, key: bytes | None, url: str | None = None, window: float = WINDOW_S) -> None:
        self.key = key
        self.client = uuid.uuid4().hex
        self.sender = default_host_name()
        self.verifier = Verifier(key, self.sender, window) if key else None
        self._pending: dict[str, str] = {}  # request id → host
        self._inbox: list[dict[str, Any]] = []
        self.rejected = 0
        self.link = Link(lambda: transport.reply_queue(self.client), self._on_reply, url)

    def send(self, host: str, op: str, params: dict[str, Any], rid: str | None = None) -> str:
        """Publish a signed command to ``host``; its id (= the request id in every reply)."""
        if self.key is None:
            raise FleetKeyError(NO_KEY)
        if not HOST_RE.match(host):
            raise ValueError(f"host {host!r}: not a valid host name")
        if not self.link.open():
            raise ConnectionError("the broker cannot be reached: no command was sent")
        body = seal(
            self.key, host, self.sender, op, params, reply_to=f"reply.{self.client}", nonce=rid
        )
        assert self.link.producer is not None
        transport.publish(self.link.producer, body, transport.COMMANDS, routing_key=f"cmd.{host}")
        self._pending[body["id"]] = host
        return str(body["id"])

    def _on_reply(self, body: Any) -> None:
        if self.verifier is None:
            return
        try:
            env = self.verifier.check(body)
        except Refused as exc:
            self.rejected += 1
            log.warning("fleet reply rejected (%s): %s", exc.reason, exc)
            return
        outcome = env["params"]
        rid = outcome.get("id")
        if env["op"] != "reply" or self._pending.get(rid) != env["sender"]:
            self.rejected += 1
            return
        if outcome.get("state") != "pending":
            self._pending.pop(rid, None)
        self._inbox.append({**outcome, "host": env["sender"]})

    def poll(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        self.link.poll(timeout)
        out, self._inbox = self._inbox, []
        return out

    def wait(
        self,
        rid: str,
        timeout: float,
        on_pending: Callable[[dict[str, Any]], None] | None = None,
        patience: float = PATIENCE_S,
    ) -> dict[str, Any] | None:
        """The final outcome of ``rid``, or None. The host must answer within ``timeout``
        (its agent says "accepted" at once); after that each pending reply gives it
        ``patience`` more seconds (a start's project check and watch take their time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.poll(min(0.25, max(0.0, deadline - time.monotonic()))):
                if item.get("id") != rid:
                    continue
                if item.get("state") != "pending":
                    return item
                deadline = time.monotonic() + patience
                if on_pending is not None:
                    on_pending(item)
        return None

    def close(self) -> None:
        self.link.close()
