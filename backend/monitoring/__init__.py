"""The monitoring workload: I/O-bound checks of many URLs.

This package is the pure library part: validating URL lists (:mod:`.urls`), checking one URL
(:mod:`.check`) and a loopback HTTP server for tests and benchmarks (:mod:`.testserver`). A Celery
task running under the gevent pool wraps :func:`check_url`; the code here therefore does plain
blocking socket I/O through ``requests`` (which gevent monkeypatches) and uses no threads or
asyncio of its own.
"""

from pooldesk.backend.monitoring.check import CheckResult, check_url
from pooldesk.backend.monitoring.urls import (
    UrlFileError,
    UrlList,
    UrlListError,
    parse_url_file,
    parse_url_lines,
    parse_url_list,
    read_url_list,
    validate_url,
)

__all__ = [
    "CheckResult",
    "UrlFileError",
    "UrlList",
    "UrlListError",
    "check_url",
    "parse_url_file",
    "parse_url_lines",
    "parse_url_list",
    "read_url_list",
    "validate_url",
]
