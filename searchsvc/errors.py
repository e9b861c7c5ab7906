"""Error types and the one JSON error body every endpoint answers with.

    {"error": {"code": "invalid_query", "message": "...", "field": "q", "request_id": "..."}}

The library raises `ServiceError` subclasses (nothing here knows HTTP or Flask); api/error_handlers.py turns
them, Werkzeug's HTTP errors and anything unexpected into that body. Codes are stable: clients switch on `code`,
people read `message`.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("searchsvc")

# code -> HTTP status; the only list of codes a client may see.
CODES: dict[str, int] = {
    "invalid_query": 400,
    "invalid_parameter": 400,
    "unknown_parameter": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "document_owned_by_file": 409,
    "unsupported_media_type": 415,
    "internal": 500,
    "index_unavailable": 503,
    "storage_full": 507,
}

# Werkzeug HTTP statuses without a more specific cause map onto these codes.
_STATUS_CODES: dict[int, str] = {
    400: "invalid_parameter",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "payload_too_large",
    415: "unsupported_media_type",
    431: "payload_too_large",
    503: "index_unavailable",
}


class ServiceError(Exception):
    """An error a client caused or should know about; carries its code, message and offending field."""

    code = "internal"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def status(self) -> int:
        return CODES[self.code]


class QueryError(ServiceError):
    """`q` cannot be parsed or would be too costly to run."""

    code = "invalid_query"

    def __init__(self, message: str, field: str | None = "q") -> None:
        super().__init__(message, field)


class ParameterError(ServiceError):
    """A request parameter has a value that cannot be used."""

    code = "invalid_parameter"


class UnknownParameterError(ServiceError):
    """A parameter the endpoint does not know: named, so a typo like `limt` is not silently ignored."""

    code = "unknown_parameter"


class NotFoundError(ServiceError):
    code = "not_found"


class UnauthorizedError(ServiceError):
    code = "unauthorized"


class UnsupportedMediaTypeError(ServiceError):
    code = "unsupported_media_type"


class PayloadTooLargeError(ServiceError):
    """A request carries more than the service accepts (bytes, or documents in one batch)."""

    code = "payload_too_large"


class DocumentOwnedByFileError(ServiceError):
    """A write over HTTP to a document indexed from a file: the file owns it (the next index run would undo
    the write), so it is refused."""

    code = "document_owned_by_file"

    def __init__(self, doc_id: str) -> None:
        super().__init__(owned_by_file_message(doc_id), "id")


def owned_by_file_message(doc_id: str) -> str:
    """Why a write to `doc_id` is refused: the one wording, for the 409 and for a batch's per-document error."""
    return (
        f"document {doc_id!r} was indexed from a file in the source folders, which owns it: change or delete "
        "the file and run `searchsvc index` (an HTTP write would be undone by the next index run)"
    )


class IndexUnavailableError(ServiceError):
    """No index is built yet, or it cannot be opened: the service is up but cannot answer searches."""

    code = "index_unavailable"


class ForbiddenError(ServiceError):
    """The endpoint is disabled by configuration (writes without SEARCHSVC_ADMIN_KEY)."""

    code = "forbidden"


class InsufficientStorageError(ServiceError):
    """The disk holding the index and its task database is full: a write could not be accepted."""

    code = "storage_full"


# Characters of an error's message and field: messages quote the value at fault, and a 5 MB date or parameter
# name in a POST body was quoted whole (an error as large as the request, the name twice).
MAX_MESSAGE = 1000
MAX_FIELD = 200


def error_body(code: str, message: str, field: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    """The JSON error body; the only place its shape is written down. `request_id` is the request's (the
    X-Request-Id header of the answer), so a client can quote it and an operator find its log lines."""
    if code not in CODES:
        raise ValueError(f"unknown error code {code!r}")
    message, field = _clipped(message, MAX_MESSAGE), None if field is None else _clipped(field, MAX_FIELD)
    return {"error": {"code": code, "message": message, "field": field, "request_id": request_id}}


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code_for_status(status: int) -> str:
    """The error code for an HTTP status that has no more specific cause."""
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    return "internal" if status >= 500 else "invalid_parameter"
