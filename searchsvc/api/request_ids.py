"""Every request gets an id (logs.accept_request_id): set for the thread serving it while the app runs and its
body is sent, kept in the WSGI environ, and echoed in the `X-Request-Id` response header. WSGI middleware rather
than a Flask hook, so that every answer has it, errors raised before any hook included."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wsgi import ClosingIterator

from searchsvc.logs import REQUEST_ID_HEADER, RequestInfo, accept_request_id, log_path, set_request

ENVIRON_KEY = "searchsvc.request_id"


class RequestIdMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]], log_queries: bool) -> None:
        self.app = app
        self.log_queries = log_queries

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = accept_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = request_id
        path = log_path(environ, self.log_queries)
        set_request(RequestInfo(request_id, environ.get("REQUEST_METHOD", ""), path))

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            set_request(None)
            raise
        # The body may be a stream (format=ndjson): the request stays current until it is sent.
        return ClosingIterator(body, [lambda: set_request(None)])
