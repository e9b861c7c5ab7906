"""Every failure of a request, expected or not, answered with errors.error_body as JSON (never HTML, never a
traceback)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from searchsvc.errors import ServiceError, UnauthorizedError, code_for_status, error_body
from searchsvc.logs import current_request_id

log = logging.getLogger("searchsvc")

Responder = Callable[[Any, int], Response]


def register_error_handlers(app: Flask, respond: Responder, on_error: Callable[[str], None] | None = None) -> None:
    """Make every failure, expected or not, answer with `error_body` as JSON (never HTML, never a traceback).
    `respond(data, status)` serialises, so the API's one JSON encoder is used for errors too; `on_error(code)`
    is told of each (the refusals metric)."""

    def _respond(code: str, message: str, field: str | None, status: int) -> Response:
        if on_error is not None:
            on_error(code)
        return respond(error_body(code, message, field, current_request_id()), status)

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        response = _respond(exc.code, exc.message, exc.field, exc.status)
        if isinstance(exc, UnauthorizedError):
            response.headers["WWW-Authenticate"] = 'Bearer realm="searchsvc"'
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 404:
            message = "no such endpoint or resource"
        response = _respond(code_for_status(status), message, None, status)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Method and path only: the query string and headers may carry keys or private queries.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond("internal", "internal error; it was logged on the server", None, 500)
