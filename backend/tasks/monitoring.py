"""The URL-check task: I/O-bound work that belongs on a gevent pool."""

from __future__ import annotations

import time
from typing import Any

from backend.celery_app import app
from backend.monitoring.check import check_url


@app.task(name="pooldesk.monitoring.check", nature="io")
def check_url_task(batch_id: str, index: int, url: str, timeout: float = 10.0) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = check_url(url, connect_timeout=min(3.0, timeout), read_timeout=timeout).to_dict()
    except ValueError as exc:  # an invalid URL slipped past launch validation
        result = {"url": url, "ok": False, "error_class": "InvalidURL", "error": str(exc)}
    result.update(batch_id=batch_id, index=index, runtime=time.monotonic() - started)
    if not result.get("ok"):
        code = result.get("status_code")
        result["reason"] = result.get("error") or (f"HTTP {code}" if code else "failed")
    return result
