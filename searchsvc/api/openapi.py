"""The OpenAPI document, generated from the app's routes: each view carries its operations (`documented`), the
URL rule gives the path and its parameters, the access policy (auth.py) gives security and the 401/403
answers, and the marshmallow schemas give parameters and bodies. A route without operations is not in it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from searchsvc.api.auth import OPEN_ENDPOINTS, WRITE_ENDPOINTS
from searchsvc.api.read_schemas import (
    DocumentSchema,
    EntitiesResponseSchema,
    EntityPageSchema,
    ErrorSchema,
    HealthResponseSchema,
    ReadyResponseSchema,
    SearchRequestSchema,
    SearchResponseSchema,
    SimilarResponseSchema,
    StatsResponseSchema,
)
from searchsvc.api.write_schemas import DocumentInputSchema, TaskListResponseSchema, TaskResponseSchema, TaskSchema
from searchsvc.config import Settings
from searchsvc.extract.types import ENTITY_TYPES

View = TypeVar("View", bound=Callable[..., Any])

ERRORS = {
    "400": "Invalid query or parameter (codes invalid_query, invalid_parameter, unknown_parameter).",
    "401": "Missing or wrong bearer key (code unauthorized).",
    "403": "Writes are disabled: SEARCHSVC_ADMIN_KEY is not set (code forbidden).",
    "404": "No such document or endpoint (code not_found).",
    "405": "Method not allowed (code method_not_allowed).",
    "409": "The document was indexed from a file, which owns it (code document_owned_by_file).",
    "413": "Request body too large (code payload_too_large).",
    "414": "Request line (path and query string) longer than the server accepts (code payload_too_large); "
    "send a long query as JSON with POST /search.",
    "415": "POST body is not JSON (code unsupported_media_type).",
    "500": "Unexpected error (code internal).",
    "503": "No readable index (code index_unavailable).",
    "507": "No space left for the task database or the index (code storage_full).",
}
# Every operation may meet these: gunicorn refuses an overlong request line whatever the path; anything may fail.
ALWAYS = ("414", "500")
COMPONENTS = {
    "Error": ErrorSchema,
    "SearchResponse": SearchResponseSchema,
    "Document": DocumentSchema,
    "SimilarResponse": SimilarResponseSchema,
    "EntitiesResponse": EntitiesResponseSchema,
    "EntityPage": EntityPageSchema,
    "StatsResponse": StatsResponseSchema,
    "HealthResponse": HealthResponseSchema,
    "ReadyResponse": ReadyResponseSchema,
    "Task": TaskSchema,
    "TaskResponse": TaskResponseSchema,
    "TaskListResponse": TaskListResponseSchema,
    "DocumentInput": DocumentInputSchema,
}
PATH_PARAMETERS = {
    "doc_id": "Document id (may contain '/').",
    "task_id": "Task id.",
    "kind": "Entity type: person, org or place.",
    "name": "The entity's name, canonical or as a document wrote it (may contain '/').",
}
TASK_ANSWERS = {
    "200": ("wait=true: the finished task (succeeded or failed)", "TaskResponse"),
    "202": ("The task, stored durably: enqueued (or not finished at the timeout)", "TaskResponse"),
}


@dataclass(frozen=True)
class Operation:
    """One method of one route, as the document shows it. `ok` maps a status to (description, component);
    `query` is a request schema class (built with the settings); `body` a requestBody's content, or a callable
    of the settings giving it."""

    summary: str
    ok: Mapping[str, tuple[str, str | dict[str, Any]]]  # status -> (description, JSON schema)
    errors: tuple[str, ...] = ()
    query: type | None = None
    body: Mapping[str, Any] | Callable[[Settings], Mapping[str, Any]] | None = None
    description: str | Callable[[Settings], str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Other media types of the 2xx answers: {"application/x-ndjson": {...}}; "json": False drops the JSON one.
    media: Mapping[str, Any] = field(default_factory=dict)
    json: bool = True
    shown: Callable[[Settings], bool] | None = None  # None: always in the document


def documented(**operations: Operation) -> Callable[[View], View]:
    """Attach the operations of a view, by lower-case method (`get=Operation(...)`)."""

    def mark(view: View) -> View:
        view.openapi_operations = operations  # type: ignore[attr-defined]  # read back by openapi_spec
        return view

    return mark


def _json(schema: str | dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """`/tasks/<int:task_id>` -> (`/tasks/{task_id}`, its path parameters)."""
    parameters = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        kind = "integer" if converter == "int" else "string"
        schema: dict[str, Any] = {"type": kind}
        if name == "kind":
            schema["enum"] = list(ENTITY_TYPES)
        parameter = {"in": "path", "name": name, "required": True, "schema": schema}
        if name in PATH_PARAMETERS:
            parameter["description"] = PATH_PARAMETERS[name]
        parameters.append(parameter)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), parameters


def _access(endpoint: str, settings: Settings) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Security requirement and refusals of an endpoint, from auth.py's policy."""
    if endpoint in OPEN_ENDPOINTS:
        return {}, ()
    if endpoint in WRITE_ENDPOINTS:
        return {"security": [{"admin": []}]}, ("401", "403", "507")
    if settings.search_key:
        return {"security": [{"bearer": []}, {"admin": []}]}, ("401",)
    return {}, ()


def _operation(
    op: Operation, endpoint: str, path_parameters: list[dict[str, Any]], settings: Settings
) -> dict[str, Any]:
    security, refusals = _access(endpoint, settings)
    responses: dict[str, Any] = {}
    for status, (description, schema) in op.ok.items():
        content = {**(_json(schema) if op.json else {}), **op.media}
        responses[status] = {"description": description, "content": content}
    for status in sorted({*op.errors, *refusals, *ALWAYS}):
        responses[status] = {"$ref": f"#/components/responses/Error{status}"}
    parameters = [dict(p) for p in path_parameters]
    if op.query is not None:  # a new schema each time: apispec expands it in place
        parameters.append({"in": "query", "schema": op.query(settings)})
    out: dict[str, Any] = {"summary": op.summary, "responses": responses, **security, **op.extra}
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        body = op.body(settings) if callable(op.body) else op.body
        out["requestBody"] = {"required": True, "content": dict(body)}
    if op.description is not None:
        out["description"] = op.description(settings) if callable(op.description) else op.description
    return out


def openapi_spec(app: Flask, settings: Settings, version: str) -> dict[str, Any]:
    """The OpenAPI 3 document of every documented route of `app`."""
    spec = APISpec(
        title="searchsvc",
        version=version,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Search news articles by words, phrases, people, organisations, places and dates. "
            'Every error has the body {"error": {"code", "message", "field"}}.'
        },
    )
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    spec.components.schema("SearchRequest", schema=SearchRequestSchema(settings))
    for status, description in ERRORS.items():
        spec.components.response(f"Error{status}", {"description": description, "content": _json("Error")})
    if settings.search_key:
        spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "admin", {"type": "http", "scheme": "bearer", "description": "The server's SEARCHSVC_ADMIN_KEY."}
    )
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        operations = getattr(app.view_functions.get(rule.endpoint), "openapi_operations", None)
        if not operations:
            continue
        path, parameters = _path(rule.rule)
        for method, op in operations.items():
            if op.shown is None or op.shown(settings):
                paths.setdefault(path, {})[method] = _operation(op, rule.endpoint, parameters, settings)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
