"""Request ids and log lines (no Flask): the request a thread is serving, and the two log formats.

A request's id comes from its `X-Request-Id` header when that is 1 to 64 printable ASCII characters, else it is
made here (uuid4 hex). The WSGI layer (api/request_ids.py) sets the current request for the thread serving it, so
every log line written while it runs -- by the API, the search service or the task queue -- carries its id.

Formats (SEARCHSVC_LOG_FORMAT): `text`, one human line, or `json`, one object a line with `time`, `level`,
`logger`, `pid`, `request_id`, `method`, `path`, `message`, and on access lines `status` and `duration_ms`.
Paths are logged without the query string's values unless SEARCHSVC_LOG_QUERIES is true (queries are what
people look for: private by default). Configured keys are replaced by `[redacted]` in every field, should one
ever reach a message.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID = 64
_VALID_ID = re.compile(rf"[\x20-\x7e]{{1,{MAX_REQUEST_ID}}}", re.ASCII)
LOG_FORMATS = ("text", "json")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class RequestInfo:
    """What log lines say about the request being served."""

    request_id: str
    method: str = ""
    path: str = ""


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar("searchsvc_request", default=None)


def accept_request_id(given: str | None) -> str:
    """The client's id when it is 1 to 64 printable ASCII characters, else a new one (uuid4 hex)."""
    if given is not None and _VALID_ID.fullmatch(given) and given.strip():
        return given
    return uuid.uuid4().hex


def set_request(info: RequestInfo | None) -> None:
    """The request this thread now serves (None: none)."""
    _current.set(info)


def current_request() -> RequestInfo | None:
    return _current.get()


def current_request_id() -> str | None:
    info = _current.get()
    return info.request_id if info is not None else None


def path_for_log(path: str, query: str, keep_values: bool) -> str:
    """`path?query` as logs show it: with `keep_values` false, parameter names only (`/search?q=&limit=`)."""
    if not query:
        return path
    if keep_values:
        return f"{path}?{query}"
    names = [part.split("=", 1)[0] + "=" for part in query.split("&") if part]
    return f"{path}?{'&'.join(names)}"


def log_path(environ: dict[str, Any], keep_values: bool) -> str:
    """The request's path as the client sent it (percent-encoded, so one line stays one line), query values
    kept or not."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path, _, query = str(raw).partition("?")
    else:
        path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
    return path_for_log(path, query, keep_values)


# -- formatting ----------------------------------------------------------------------------------------------
class _Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _request_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request fields of a record: set explicitly (access lines), else those of the thread's request."""
    info = current_request()
    return {
        "request_id": getattr(record, "request_id", None) or (info.request_id if info else None),
        "method": getattr(record, "method", None) or (info.method if info else None),
        "path": getattr(record, "path", None) or (info.path if info else None),
    }


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            **_request_fields(record),
        }
        for name in ("status", "duration_ms"):
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        for key, value in out.items():
            if isinstance(value, str):
                out[key] = self.redact(value)
        return orjson.dumps(out).decode()


class TextFormatter(logging.Formatter):
    """`time [pid] [LEVEL] [request id] logger: message`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s [%(process)d] [%(levelname)s] [%(request_id)s] %(name)s: %(message)s")
        self.redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = _request_fields(record)["request_id"] or "-"
        return self.redact(super().format(record))


def make_formatter(log_format: str, secrets: Iterable[str] = ()) -> logging.Formatter:
    return JsonFormatter(secrets) if log_format == "json" else TextFormatter(secrets)


def configure_logging(level: str, log_format: str, secrets: Iterable[str] = ()) -> None:
    """The `searchsvc` logger to stderr (gunicorn's error log) in the configured format, unless the host
    application already gave it a handler."""
    log = logging.getLogger("searchsvc")
    log.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else logging.INFO)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(make_formatter(log_format, secrets))
        log.addHandler(handler)
