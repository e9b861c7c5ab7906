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
