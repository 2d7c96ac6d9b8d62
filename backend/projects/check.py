"""``pooldesk project check``: import the app once, in the project's own interpreter and workdir.

A subprocess of the project's interpreter runs the stand-alone ``_pooldesk_check`` module (so the
user's app never enters Pooldesk's process, and works from the frozen bundle too). Its answer is
a :class:`CheckResult`; ``public()`` is what may be printed or shown (URLs masked, env values
masked in any error text), ``to_dict()`` what the 0600 cache keeps.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

from pooldesk.backend.projects.envfile import EnvFileError
from pooldesk.backend.projects.model import Project, ProjectError
from pooldesk.backend.projects.runenv import project_env, secrets
from pooldesk.backend.redact import mask_text, mask_url
from pooldesk.backend.workers import inworker

MARKER = "@@pooldesk-check@@"
CHECK_TIMEOUT_S = 60.0


@dataclass
class CheckResult:
    ok: bool
    python: str | None = None  # "3.11.7"
    celery: str | None = None
    broker_url: str | None = None  # REAL: only in memory and the 0600 cache
    result_backend: str | None = None  # REAL
    default_queue: str | None = None
    tasks: list[dict[str, str]] = field(default_factory=list)  # [{"name", "queue"}]
    pools: dict[str, str | None] = field(default_factory=dict)  # pool → None or why not
    error: str | None = None  # the import error's last line (env values masked)
    checked_at: float | None = None

    @property
    def queues(self) -> list[str]:
        """The queues its tasks route to, the default queue first."""
        found = [self.default_queue] if self.default_queue else []
        for task in self.tasks:
            if task["queue"] not in found:
                found.append(task["queue"])
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        data = self.to_dict()
        data["broker_url"] = mask_url(self.broker_url)
        data["result_backend"] = mask_url(self.result_backend)
        data["queues"] = self.queues
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def ask(
    project: Project, module: str, marker: str, timeout: float = CHECK_TIMEOUT_S
) -> dict[str, Any]:
    """Run a stand-alone in-worker ``module`` on the project's app in its own interpreter,
    workdir and env, and return the JSON it printed after ``marker``. Raises ProjectError for
    a project that cannot even be asked (bad interpreter, env file, a hang); error texts are
    masked with the project's secrets."""
    problems = project.problems()
    if problems:
        raise ProjectError("; ".join(problems))
    try:
        env = project_env(project)
    except EnvFileError as exc:
        raise ProjectError(str(exc)) from None
    hidden = secrets(project)
    try:
        done = subprocess.run(
            [project.python, "-m", module, project.app],
            cwd=project.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise ProjectError(
            f"importing {project.app} took longer than {timeout:.0f} s in {project.python}"
        ) from None
    except OSError as exc:
        raise ProjectError(f"python {project.python}: cannot run it ({exc.strerror})") from None
    output = done.stdout.decode("utf-8", "replace")
    answer = next(
        (line[len(marker) :] for line in reversed(output.splitlines()) if line.startswith(marker)),
        None,
    )
    if answer is None:
        tail = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise ProjectError(
            f"python {project.python}: not a Python interpreter Pooldesk can use "
            f"(it said: {mask_text(tail, hidden)[:200]})"
        )
    data: dict[str, Any] = json.loads(answer)
    if data.get("error"):
        data["error"] = mask_text(str(data["error"]), hidden)
    return data


def run_check(project: Project, timeout: float = CHECK_TIMEOUT_S) -> CheckResult:
    """Raises ProjectError for a project that cannot even be asked (bad interpreter, env file);
    an app that does not import is a result with ``ok=False`` and its ``error``."""
    import time

    data = ask(project, inworker.CHECK_MODULE, MARKER, timeout)
    error = data.get("error")
    return CheckResult(
        ok=error is None,
        python=data.get("python"),
        celery=data.get("celery"),
        broker_url=data.get("broker_url"),
        result_backend=data.get("result_backend"),
        default_queue=data.get("default_queue"),
        tasks=list(data.get("tasks") or []),
        pools=dict(data.get("pools") or {}),
        error=str(error) if error else None,
        checked_at=time.time(),
    )
