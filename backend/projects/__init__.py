"""Projects: named, saved descriptions of a user's own Celery app (its interpreter, working
directory, app, env file and broker), so Pooldesk runs *their* workers in *their* environment.

``model`` (the fields and their checks), ``envfile`` (dotenv parsing with line numbers),
``store`` (0600 files under ``$POOLDESK_HOME/projects``), ``check`` (imports the app once in the
project's own interpreter), ``runenv`` (the environment a project's worker gets) and ``brokers``
(which broker a worker is on). The demo app is the built-in project ``demo``.
"""

from __future__ import annotations

from pooldesk.backend.projects.model import DEMO, Project, ProjectError

__all__ = ["DEMO", "Project", "ProjectError"]
