"""Marshmallow schemas of the write API (documents in, tasks out) and its part of the OpenAPI document.

Request bodies are documents, validated by `documents.DocumentSchema` (the loaders' schema); the input schema
here only describes them for OpenAPI, and a test keeps the two field lists equal.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from searchsvc.api.read_schemas import RequestSchema, StrictInteger
from searchsvc.config import Settings
from searchsvc.writes.tasks import KINDS, STATUSES

MAX_WAIT = 60.0
DEFAULT_WAIT = 10.0


# -- requests ------------------------------------------------------------------------------------------------
class WriteRequestSchema(RequestSchema):
    """Query parameters of every write (PUT/POST/DELETE /documents, POST /reindex)."""

    wait = fields.Boolean(
        load_default=False,
        metadata={"description": "Answer when the task is applied (200) instead of at once (202)."},
    )
    timeout = fields.Float(
        load_default=None,
        validate=validate.Range(0, MAX_WAIT),
        metadata={
            "description": f"With wait=true: seconds to wait at most (default {DEFAULT_WAIT:g}, at most "
            f"{MAX_WAIT:g}); then the answer is 202 with the task as it stands."
        },
    )

    @validates_schema
    def _timeout_needs_wait(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("timeout") is not None and not data.get("wait"):
            raise ValidationError("only applies with wait=true", "timeout")


class TaskListRequestSchema(RequestSchema):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(STATUSES),
        metadata={"description": "Only tasks in this state."},
    )
    limit = StrictInteger(
        load_default=20, validate=validate.Range(1, 1000), metadata={"description": "Tasks to return."}
    )
    before = StrictInteger(
        load_default=None,
        validate=validate.Range(1, 2**63 - 1),
        metadata={"description": "Only tasks with a smaller id (the `next` of the previous page)."},
    )

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        # RequestSchema bounds `limit` by max_limit (a search setting); task pages have their own bound.
        self.fields["limit"].validators = [validate.Range(1, 1000)]


class DocumentInputSchema(Schema):
    """A document as PUT /documents/{id} and POST /documents take it (described for OpenAPI; loaded by
    documents.DocumentSchema, which also accepts the aliases text/content for body and date for published)."""

    id = fields.String(
        metadata={"description": "1 to 256 characters. PUT: optional; if given, equal to the id in the URL."}
    )
    title = fields.String(allow_none=True, metadata={"description": "Default: the body's first sentence."})
    body = fields.String(required=True)
    published = fields.String(
        allow_none=True, metadata={"description": "ISO 8601 date or datetime.", "example": "2021-03-19"}
    )
    url = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    author = fields.String(allow_none=True)
    tags = fields.List(fields.String(), metadata={"description": "A list, or one comma-separated string."})


# -- responses -----------------------------------------------------------------------------------------------
class TaskSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    status = fields.String(
        required=True,
        validate=validate.OneOf(STATUSES),
        metadata={"description": "enqueued -> processing -> succeeded or failed."},
    )
    enqueued_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601."})
    started_at = fields.String(allow_none=True, required=True)
    finished_at = fields.String(allow_none=True, required=True)
    attempts = fields.Integer(
        required=True,
        metadata={"description": "Times the writer started it: above 1 after a crash or a retried error."},
    )
    details = fields.Dict(
        required=True,
        metadata={"description": "What was asked: id (PUT, DELETE); received, accepted, rejected (POST)."},
    )
    result = fields.Dict(
        allow_none=True,
        required=True,
        metadata={
            "description": "Once finished. documents: indexed, rejected, errors [{index, id, message}]; "
            "delete: deleted; reindex: the indexer's report."
        },
    )
    error = fields.String(allow_none=True, required=True, metadata={"description": "Why it failed."})
    request_id = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The id of the request that was accepted as this task (its X-Request-Id)."},
    )


class TaskResponseSchema(Schema):
    task = fields.Nested(TaskSchema, required=True)


class TaskListResponseSchema(Schema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True, metadata={"description": "Newest first."})
    next = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Pass as `before` for the next page."}
    )


# -- OpenAPI -------------------------------------------------------------------------------------------------
_WRITE_ERRORS = {
    "403": "Writes are disabled: SEARCHSVC_ADMIN_KEY is not set (code forbidden).",
    "507": "No space left for the task database or the index (code storage_full).",
}


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: str) -> dict[str, Any]:
    # 414: gunicorn refuses an overlong request line (schemas._responses adds it to the read API too).
    return {status: {"$ref": f"#/components/responses/Error{status}"} for status in sorted({*statuses, "414"})}


def _task_answers(*errors: str) -> dict[str, Any]:
    return {
        "200": {
            "description": "wait=true: the finished task (succeeded or failed)",
            "content": _json("TaskResponse"),
        },
        "202": {
            "description": "The task, stored durably: enqueued (or not finished at the timeout)",
            "content": _json("TaskResponse"),
        },
        **_errors(*errors),
    }


def add_write_paths(spec: Any, settings: Settings) -> None:
    """Add the write API to the apispec `APISpec` that schemas.openapi_spec builds."""
    for name, schema in (
        ("Task", TaskSchema),
        ("TaskResponse", TaskResponseSchema),
        ("TaskListResponse", TaskListResponseSchema),
        ("DocumentInput", DocumentInputSchema),
    ):
        spec.components.schema(name, schema=schema)
    for status, description in _WRITE_ERRORS.items():
        spec.components.response(f"Error{status}", {"description": description, "content": _json("Error")})
    spec.components.security_scheme(
        "admin", {"type": "http", "scheme": "bearer", "description": "The server's SEARCHSVC_ADMIN_KEY."}
    )
    admin: dict[str, Any] = {"security": [{"admin": []}]}
    reads_secured = bool(settings.search_key)
    read_security: dict[str, Any] = {"security": [{"bearer": []}, {"admin": []}]} if reads_secured else {}
    read_errors = ("401",) if reads_secured else ()

    def params() -> dict[str, Any]:  # a new one each time: apispec expands the schema in place
        return {"in": "query", "schema": WriteRequestSchema(settings)}

    doc_id = {
        "in": "path",
        "name": "doc_id",
        "required": True,
        "schema": {"type": "string"},
        "description": "Document id (may contain '/').",
    }
    task_id = {"in": "path", "name": "task_id", "required": True, "schema": {"type": "integer"}}
    body_errors = ("400", "401", "403", "413", "415", "500", "503", "507")
    # An id the URL rule cannot carry (empty, a leading '/', some with a newline) reaches no endpoint: 404.
    id_errors = ("404",)
    # Merged with the GET that the read API declares for this path.
    spec.path(
        path="/documents/{doc_id}",
        operations={
            "put": {
                "summary": "Add or replace one document",
                "parameters": [dict(doc_id), params()],
                "requestBody": {"required": True, "content": _json("DocumentInput")},
                "responses": _task_answers(*body_errors, *id_errors),
                **admin,
            },
            "delete": {
                "summary": "Delete one document (a missing id succeeds with deleted: 0)",
                "parameters": [dict(doc_id), params()],
                "responses": _task_answers("400", "401", "403", *id_errors, "500", "503", "507"),
                **admin,
            },
        },
    )
    batch = {"type": "array", "items": {"$ref": "#/components/schemas/DocumentInput"}, "maxItems": settings.max_batch}
    spec.path(
        path="/documents",
        operations={
            "post": {
                "summary": "Add or replace many documents: a JSON array, or NDJSON (one document a line)",
                "description": f"At most {settings.max_batch} documents and {settings.max_body_bytes} bytes. "
                "Invalid documents are reported in the task by index and id; the others are applied.",
                "parameters": [params()],
                "requestBody": {
                    "required": True,
                    "content": {**_json(batch), "application/x-ndjson": {"schema": {"type": "string"}}},
                },
                "responses": _task_answers(*body_errors),
                **admin,
            }
        },
    )
    spec.path(
        path="/reindex",
        operations={
            "post": {
                "summary": "Rebuild the index from the source folders and swap it in; searches go on",
                "parameters": [params()],
                "responses": _task_answers("400", "401", "403", "500", "503", "507"),
                **admin,
            }
        },
    )
    spec.path(
        path="/tasks",
        operations={
            "get": {
                "summary": "Recent tasks, newest first",
                "parameters": [{"in": "query", "schema": TaskListRequestSchema(settings)}],
                "responses": {
                    "200": {"description": "Tasks", "content": _json("TaskListResponse")},
                    **_errors("400", *read_errors, "500"),
                },
                **read_security,
            }
        },
    )
    spec.path(
        path="/tasks/{task_id}",
        operations={
            "get": {
                "summary": "One task: status, counts, per-document errors",
                "parameters": [task_id],
                "responses": {
                    "200": {"description": "The task", "content": _json("TaskResponse")},
                    **_errors("400", *read_errors, "404", "500"),
                },
                **read_security,
            }
        },
    )
