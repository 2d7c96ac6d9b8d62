"""The agent's side of a command: verify, apply the host's policy, run it, answer.

Worker operations go to the one operations API (``backend/operations``: ``submit`` returns an
Outcome, ``tick`` the later ones), run on a thread of its own (``runner``); this module only
forwards them and sends each Outcome back, signed, to the reply queue named in the command: an
immediate ``pending`` ("accepted"), the API's own, then ``done``/``failed``, all with the
request's id. Project registration runs the project check, which imports the app
in its interpreter (seconds): on a thread of its own, so samples keep flowing meanwhile.

Refusals: an envelope with a bad signature or that is not JSON is logged and not answered
(nothing in it can be trusted, not even its reply queue; answering would make the agent a
reflector for anyone on the broker). A good signature with a wrong host, an old or future
timestamp, a replayed nonce, or a request the policy refuses is logged and answered with a
signed ``failed`` outcome whose ``data.reason`` says why. Log lines name the sender, the op
and the reason, never the params (they may carry env file paths or names) nor the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pooldesk.backend.fleet import policy
from pooldesk.backend.fleet.runner import InlineRunner, Operations, OpsThread
from pooldesk.backend.fleet.sign import UNANSWERED, Refused, Verifier
from pooldesk.backend.operations import Request, RequestError
from pooldesk.backend.projects.store import ProjectStore

__all__ = ["CommandHandler", "Operations"]

log = logging.getLogger("pooldesk.fleet.agent")

WORKER_OP = "worker"
PROJECT_OPS = ("project_add", "project_check", "project_remove")
OPS = (WORKER_OP, *PROJECT_OPS)


def outcome(
    rid: str, op: str, name: str, state: str, ok: bool, text: str, **data: Any
) -> dict[str, Any]:
    """An Outcome's JSON (``backend.operations.request.Outcome.to_json``'s shape)."""
    return {"id": rid, "op": op, "name": name, "state": state, "ok": ok, "text": text, "data": data}


def refused(rid: str, op: str, name: str, text: str, reason: str = "refused") -> dict[str, Any]:
    return outcome(rid, op, name, "failed", False, text, reason=reason)


Reply = Callable[[str, str, dict[str, Any]], None]  # (reply_to, sender, outcome)


class CommandHandler:
    """Called by the agent's loop only (``handle`` per message, ``tick`` per turn); the
    operations API and project checks run on threads of their own and report back here."""

    def __init__(
        self,
        host: str,
        verifier: Verifier | None,
        operations: Callable[[], Operations],
        reply: Reply,
        store: ProjectStore | None = None,
        threaded: bool = True,
        chores: Callable[[], None] | None = None,
    ) -> None:
        self.host = host
        self.verifier = verifier
        self.runner: InlineRunner | OpsThread
        if threaded:
            self.runner = OpsThread(operations, chores=chores)
            self.runner.start()
        else:
            self.runner = InlineRunner(operations)
        self.reply = reply
        self.store = store or ProjectStore()
        self._waiting: dict[str, tuple[str, str]] = {}  # request id → (reply_to, sender)
        self._checks: dict[Future[dict[str, Any]], tuple[str, str]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-check")
        self.refusals = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.runner.close()

    # -- incoming ------------------------------------------------------------------------
    def handle(self, raw: bytes | str | dict[str, Any]) -> None:
        if self.verifier is None:
            self.refusals += 1
            log.warning("command refused: this agent has no fleet key (it only announces)")
            return
        try:
            env = self.verifier.check(raw)
        except Refused as exc:
            self.refusals += 1
            body = exc.envelope
            sender = body["sender"] if body else "?"
            op = body["op"] if body else "?"
            log.warning("command refused (%s): %s; sender=%s op=%s", exc.reason, exc, sender, op)
            if body is not None and exc.reason not in UNANSWERED and body.get("reply_to"):
                name = str(body["params"].get("name", ""))
                text = f"host {self.host} refused the command: {exc}"
                answer = refused(body["id"], op, name, text, exc.reason)
                self.reply(body["reply_to"], sender, answer)
            return
        log.info("command %s from %s (id %s)", env["op"], env["sender"], env["id"][:12])
        self._dispatch(env)

    def _dispatch(self, env: dict[str, Any]) -> None:
        rid, op, params = env["id"], env["op"], env["params"]
        reply_to, sender = env["reply_to"] or "", env["sender"]
        name = str(params.get("name", ""))
        if op not in OPS:
            self._answer(reply_to, sender, refused(rid, op, name, f"unknown op {op!r}", "invalid"))
        elif op == WORKER_OP:
            self._worker(rid, params, reply_to, sender)
        else:
            self._checks[self._pool.submit(self._project, rid, op, params)] = (reply_to, sender)

    def _answer(self, reply_to: str, sender: str, result: dict[str, Any]) -> None:
        if not result["ok"]:
            log.warning("%s %s failed: %s", result["op"], result["name"], result["text"])
        if reply_to:
            self.reply(reply_to, sender, result)

    def _worker(self, rid: str, params: dict[str, Any], reply_to: str, sender: str) -> None:
        request = {**params, "id": rid}
        op, name = str(request.get("op", "")), str(request.get("name", ""))
        why = policy.refusal(request, self.host, self.store)
        if why:
            self._answer(reply_to, sender, refused(rid, op, name, why))
            return
        try:
            req = Request.from_json(policy.with_project_app(request, self.store))
        except RequestError as exc:
            self._answer(reply_to, sender, refused(rid, op, name, str(exc), "invalid"))
            return
        self._waiting[rid] = (reply_to, sender)
        self.runner.submit(req)
        # At once, before the API's own first outcome (a start's project check takes seconds):
        # the panel knows the host has the command, and waits on.
        self._answer(reply_to, sender, outcome(rid, op, name, "pending", True, f"{op} accepted"))

    # -- the loop's tick -------------------------------------------------------------------
    def tick(self) -> None:
        """Forward the operations API's later outcomes and finished project checks."""
        for data in self.runner.drain():
            target = self._waiting.get(data["id"])
            if target is None:
                continue
            if data["state"] != "pending":
                del self._waiting[data["id"]]
            self._answer(*target, data)
        for future in [f for f in self._checks if f.done()]:
            reply_to, sender = self._checks.pop(future)
            self._answer(reply_to, sender, future.result())

    @property
    def busy(self) -> bool:
        return bool(self._waiting or self._checks)

    # -- projects (a thread of the pool) ---------------------------------------------------
    def _project(self, rid: str, op: str, params: dict[str, Any]) -> dict[str, Any]:
        from pooldesk.backend.fleet.projects import run_project_op

        try:
            return run_project_op(rid, op, params, self.host, self.store)
        except Exception as exc:
            log.exception("%s raised", op)
            return refused(rid, op, str(params.get("name", "")), f"{exc}", "error")
