"""The OpenAPI document of the whole API: the read schemas' and the write schemas' paths in one apispec."""

from __future__ import annotations

from typing import Any

from searchsvc.api.read_schemas import (
    DocumentSchema,
    EntitiesRequestSchema,
    EntitiesResponseSchema,
    ErrorSchema,
    HealthResponseSchema,
    ReadyResponseSchema,
    SearchRequestSchema,
    SearchResponseSchema,
    SimilarRequestSchema,
    SimilarResponseSchema,
    StatsResponseSchema,
)
from searchsvc.api.write_schemas import add_write_paths
from searchsvc.config import Settings

_ERRORS = {
    "400": "Invalid query or parameter (codes invalid_query, invalid_parameter, unknown_parameter).",
    "401": "Missing or wrong bearer key (code unauthorized).",
    "404": "No such document or endpoint (code not_found).",
    "405": "Method not allowed (code method_not_allowed).",
    "413": "Request body too large (code payload_too_large).",
    "414": "Request line (path and query string) longer than the server accepts (code payload_too_large); "
    "send a long query as JSON with POST /search.",
    "415": "POST body is not JSON (code unsupported_media_type).",
    "500": "Unexpected error (code internal).",
    "503": "No readable index (code index_unavailable).",
}


def _responses(ok: str, schema: str, errors: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok, "content": {"application/json": {"schema": schema}}}}
    for status in sorted({*errors, "414"}):  # 414: gunicorn refuses an overlong request line, whatever the path
        out[status] = {"$ref": f"#/components/responses/Error{status}"}
    return out


def openapi_spec(settings: Settings, version: str) -> dict[str, Any]:
    """The OpenAPI 3 document of the API, generated from the schemas above."""
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="searchsvc",
        version=version,
        openapi_version="3.0.3",
        plugins=[plugin],
        info={
            "description": "Search news articles by words, phrases, people, organisations, places and dates. "
            'Every error has the body {"error": {"code", "message", "field"}}.'
        },
    )
    for name, schema in (
        ("Error", ErrorSchema),
        ("SearchResponse", SearchResponseSchema),
        ("Document", DocumentSchema),
        ("SimilarResponse", SimilarResponseSchema),
        ("EntitiesResponse", EntitiesResponseSchema),
        ("StatsResponse", StatsResponseSchema),
        ("HealthResponse", HealthResponseSchema),
        ("ReadyResponse", ReadyResponseSchema),
        ("SearchRequest", SearchRequestSchema(settings)),
    ):
        spec.components.schema(name, schema=schema)
    for status, description in _ERRORS.items():
        spec.components.response(
            f"Error{status}",
            {"description": description, "content": {"application/json": {"schema": "Error"}}},
        )
    secured = bool(settings.search_key)
    if secured:
        spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    read_errors = ("401",) if secured else ()
    security: dict[str, Any] = {"security": [{"bearer": []}]} if secured else {}

    search_get = _responses("Hits, facets and a did-you-mean", "SearchResponse", ("400", *read_errors, "500", "503"))
    search_post = _responses(
        "Hits, facets and a did-you-mean", "SearchResponse", ("400", *read_errors, "413", "415", "500", "503")
    )
    for answers in (search_get, search_post):  # format=ndjson: every hit, one object a line
        answers["200"]["content"]["application/x-ndjson"] = {"schema": {"type": "string"}}
    spec.path(
        path="/search",
        operations={
            "get": {
                "summary": "Search documents",
                "parameters": [{"in": "query", "schema": SearchRequestSchema(settings)}],
                "responses": search_get,
                **security,
            },
            "post": {
                "summary": "Search documents (parameters as a JSON body; lists may be arrays)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": "SearchRequest"}},
                },
                "responses": search_post,
                **security,
            },
        },
    )
    doc_id = {
        "in": "path",
        "name": "doc_id",
        "required": True,
        "schema": {"type": "string"},
        "description": "Document id (may contain '/').",
    }
    spec.path(
        path="/documents/{doc_id}",
        operations={
            "get": {
                "summary": "One document",
                "parameters": [doc_id],
                "responses": _responses("The document", "Document", ("400", *read_errors, "404", "500", "503")),
                **security,
            }
        },
    )
    spec.path(
        path="/documents/{doc_id}/similar",
        operations={
            "get": {
                "summary": "Documents like this one",
                "parameters": [doc_id, {"in": "query", "schema": SimilarRequestSchema(settings)}],
                "responses": _responses(
                    "Similar documents", "SimilarResponse", ("400", *read_errors, "404", "500", "503")
                ),
                **security,
            }
        },
    )
    spec.path(
        path="/entities",
        operations={
            "get": {
                "summary": "Entity names for autocomplete",
                "parameters": [{"in": "query", "schema": EntitiesRequestSchema(settings)}],
                "responses": _responses(
                    "Names with document counts", "EntitiesResponse", ("400", *read_errors, "500", "503")
                ),
                **security,
            }
        },
    )
    spec.path(
        path="/stats",
        operations={
            "get": {
                "summary": "Index statistics",
                "responses": _responses("Statistics", "StatsResponse", ("400", *read_errors, "500", "503")),
                **security,
            }
        },
    )
    if not settings.metrics_port:
        spec.path(
            path="/metrics",
            operations={
                "get": {
                    "summary": "Prometheus metrics (text exposition format; README, Monitoring)",
                    "responses": {
                        "200": {
                            "description": "Every worker's counters and histograms, and the index's gauges",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **{
                            s: {"$ref": f"#/components/responses/Error{s}"} for s in ("400", *read_errors, "414", "500")
                        },
                    },
                    **security,
                }
            },
        )
    spec.path(
        path="/health",
        operations={
            "get": {
                "summary": "Liveness (does not touch the index)",
                "responses": _responses("Alive", "HealthResponse", ("500",)),
            }
        },
    )
    spec.path(
        path="/ready",
        operations={
            "get": {
                "summary": "Readiness: the index is open and readable",
                "responses": _responses("Ready", "ReadyResponse", ("500", "503")),
            }
        },
    )
    spec.path(
        path="/openapi.json",
        operations={
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **{s: {"$ref": f"#/components/responses/Error{s}"} for s in (*read_errors, "414", "500")},
                },
                **security,
            }
        },
    )
    add_write_paths(spec, settings)
    return spec.to_dict()
