"""The HTTP layer: parse and validate requests, call the search service, serialise the results (orjson).

No Whoosh here: requests go through schemas.py into search.py's plain types and come back as dicts.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, g, request

from searchsvc import __version__
from searchsvc.api.auth import authorize
from searchsvc.api.bodies import read_body
from searchsvc.api.entity_profile import entity_profile
from searchsvc.api.error_handlers import register_error_handlers
from searchsvc.api.openapi import Operation, documented, openapi_spec
from searchsvc.api.read_schemas import (
    EntitiesRequestSchema,
    EntityPageRequestSchema,
    NoParametersSchema,
    RequestSchema,
    SearchRequestSchema,
    SimilarRequestSchema,
    args_to_data,
    filters_from,
    load_request,
)
from searchsvc.config import Settings
from searchsvc.errors import (
    NotFoundError,
    ParameterError,
    ServiceError,
    UnknownParameterError,
    UnsupportedMediaTypeError,
    error_body,
)
from searchsvc.extract.types import ENTITY_TYPES
from searchsvc.logs import current_request_id
from searchsvc.monitoring import CONTENT_TYPE, Metrics
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService
from searchsvc.text_rules import first_control
from searchsvc.writes.lifecycle import TASKS_FILE
from searchsvc.writes.tasks import counts_at

log = logging.getLogger("searchsvc")

bp = Blueprint("api", __name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
# The HTML pages (pages.py) load their own stylesheet and icon, and post their forms to this server; nothing
# else: no script at all, no inline style, no frames, no other origin.
PAGE_SECURITY_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype="application/json")


class _State:
    """What the blueprint needs per app: settings, the search service, prepared schemas, the OpenAPI doc."""

    def __init__(self, settings: Settings, service: SearchService, metrics: Metrics) -> None:
        self.settings = settings
        self.service = service
        self.metrics = metrics
        # Marshmallow schemas are costly to build and safe to reuse for loading: one of each per app.
        self.search_schema = SearchRequestSchema(settings)
        self.similar_schema = SimilarRequestSchema(settings)
        self.entities_schema = EntitiesRequestSchema(settings)
        self.entity_page_schema = EntityPageRequestSchema(settings)
        self.no_params = NoParametersSchema(settings)
        self.cors_origins = {o.strip() for o in str(settings.cors_origins).split(",") if o.strip()}
        self._openapi: bytes | None = None

    def openapi(self) -> bytes:
        if self._openapi is None:
            self._openapi = orjson.dumps(openapi_spec(current_app, self.settings, __version__))
        return self._openapi


def _state() -> _State:
    return current_app.extensions["searchsvc"]


def _params(schema: RequestSchema) -> dict[str, Any]:
    """Query-string parameters validated by `schema`."""
    data = args_to_data(schema, request.args)
    _reject_control_characters(data)
    return load_request(schema, data)


def _reject_control_characters(data: dict[str, Any]) -> None:
    # q gets its own, more specific error (invalid_query) from the query parser.
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        if key != "q" and any(isinstance(v, str) and first_control(v) for v in values):
            raise ParameterError(f"{key} contains a control character", key)


def _json_body() -> dict[str, Any]:
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"POST bodies must be JSON (Content-Type: application/json), not {request.mimetype or 'nothing'}"
        )
    raw = read_body(_state().settings.max_body_bytes)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParameterError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError("the request body must be a JSON object of search parameters")
    return data


# -- auth, headers, CORS -------------------------------------------------------------------------------------
@bp.before_request
def _authorize() -> None:
    authorize(_state().settings)


def _finish(response: Response) -> Response:
    response.headers.update(PAGE_SECURITY_HEADERS if request.blueprint == "pages" else SECURITY_HEADERS)
    state = current_app.extensions.get("searchsvc")
    origin = request.headers.get("Origin")
    if state is not None and state.cors_origins:
        response.vary.add("Origin")  # caches must not reuse one origin's answer for another
        if origin and ("*" in state.cors_origins or origin in state.cors_origins):
            response.headers["Access-Control-Allow-Origin"] = "*" if "*" in state.cors_origins else origin
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response.headers["Access-Control-Max-Age"] = "600"
    return response


_HITS = ("Hits, facets and a did-you-mean", "SearchResponse")
_NDJSON = {"application/x-ndjson": {"schema": {"type": "string"}}}  # format=ndjson: every hit, one object a line


# -- endpoints -----------------------------------------------------------------------------------------------
@bp.route("/search", methods=["GET", "POST"])
@documented(
    get=Operation("Search documents", {"200": _HITS}, ("400", "503"), query=SearchRequestSchema, media=_NDJSON),
    post=Operation(
        "Search documents (parameters as a JSON body; lists may be arrays)",
        {"200": _HITS},
        ("400", "413", "415", "503"),
        body={"application/json": {"schema": "SearchRequest"}},
        media=_NDJSON,
    ),
)
def search() -> Response:
    state = _state()
    if request.method == "POST":
        if request.args:
            name = next(iter(request.args))
            raise UnknownParameterError(f"POST /search takes its parameters in the JSON body, not {name!r}", name)
        data = _json_body()
        _reject_control_characters(data)
        params = load_request(state.search_schema, data)
    else:
        params = _params(state.search_schema)
    if params["format"] == "ndjson":
        if params["offset"] or params["facets"]:
            name = "offset" if params["offset"] else "facets"
            raise ParameterError(f"{name} does not apply to format=ndjson, which streams every hit", name)
    search_request = SearchRequest(
        q=params["q"],
        match=params["match"],
        filters=filters_from(params),
        sort=params["sort"],
        limit=params["limit"],
        offset=params["offset"],
        facets=tuple(dict.fromkeys(params["facets"])),
        facet_size=params["facet_size"],
        highlight=params["highlight"],
        cursor=params["cursor"],
    )
    if params["format"] == "ndjson":
        return _stream(state, search_request)
    result = state.service.search(search_request)
    if result.timed_out:
        state.metrics.timed_out.inc()
    return json_response(result.to_json())


def _ndjson_hit(hit: Any) -> bytes:
    line = {"id": hit.id, "title": hit.title, "published": hit.published, "entities": hit.entities, "dates": hit.dates}
    return orjson.dumps(line) + b"\n"


def _stream(state: _State, first: SearchRequest) -> Response:
    """Every hit of a search as NDJSON, fetched page by page with cursors (max_limit hits a page, each page
    within the time bound), so memory stays the same whatever the number of hits. The first page runs before
    the answer starts (its errors are ordinary error answers); a page that timed out ends the stream with
    {"timed_out": true, "next": cursor} to resume from; a later error ends it with an error body line."""
    request = dataclasses.replace(first, limit=state.settings.max_limit, highlight=False, offset=0, facets=())
    page = state.service.search(request, use_cache=False)

    def lines(page: Any) -> Iterator[bytes]:
        while True:
            for hit in page.hits:
                yield _ndjson_hit(hit)
            if page.timed_out:
                state.metrics.timed_out.inc()
                yield orjson.dumps({"timed_out": True, "next": page.next}) + b"\n"
                return
            if page.next is None:
                return
            try:
                page = state.service.search(dataclasses.replace(request, cursor=page.next), use_cache=False)
            except ServiceError as exc:
                log.warning("a format=ndjson stream stopped: %s", exc.message)
                yield orjson.dumps(error_body(exc.code, exc.message, exc.field, current_request_id())) + b"\n"
                return

    return Response(lines(page), mimetype="application/x-ndjson")


@bp.get("/documents/<path:doc_id>")
@documented(get=Operation("One document", {"200": ("The document", "Document")}, ("400", "404", "503")))
def document(doc_id: str) -> Response:
    state = _state()
    _params(state.no_params)
    record = state.service.get_document(doc_id)
    if record is None:
        raise NotFoundError(f"no document with id {doc_id!r}", "doc_id")
    return json_response(record)


@bp.get("/documents/<path:doc_id>/similar")
@documented(
    get=Operation(
        "Documents like this one",
        {"200": ("Similar documents", "SimilarResponse")},
        ("400", "404", "503"),
        query=SimilarRequestSchema,
    )
)
def similar(doc_id: str) -> Response:
    state = _state()
    params = _params(state.similar_schema)
    found = state.service.similar(doc_id, params["limit"])
    if found is None:
        raise NotFoundError(f"no document with id {doc_id!r}", "doc_id")
    return json_response({"id": doc_id, "hits": found.hits, "timed_out": found.timed_out})


@bp.get("/entities")
@documented(
    get=Operation(
        "Entity names for autocomplete",
        {"200": ("Names with document counts", "EntitiesResponse")},
        ("400", "503"),
        query=EntitiesRequestSchema,
    )
)
def entities() -> Response:
    state = _state()
    params = _params(state.entities_schema)
    names = state.service.entities(params["type"], params["prefix"], params["limit"])
    return json_response({"type": params["type"], "prefix": params["prefix"], "entities": names})


@bp.get("/entities/<kind>/<path:name>")
@documented(
    get=Operation(
        "One entity: its documents, dates, aliases, the names seen with it and its monthly timeline",
        {"200": ("The entity", "EntityPage")},
        ("400", "404", "503"),
        query=EntityPageRequestSchema,
    )
)
def entity_page(kind: str, name: str) -> Response:
    state = _state()
    params = _params(state.entity_page_schema)
    if kind not in ENTITY_TYPES:
        raise ParameterError(f"the type must be one of {', '.join(ENTITY_TYPES)}, not {kind!r}", "type")
    profile = entity_profile(state.service, kind, name, params["limit"])
    if profile.total == 0:
        near = [e["name"] for e in state.service.entities(kind, name[:3], 3) if e["name"].lower() != name.lower()]
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        raise NotFoundError(f"no document names the {kind} {name!r}{hint}", "name")
    return json_response(
        {
            "type": kind,
            "name": profile.name,
            "documents": profile.total,
            "documents_relation": profile.total_relation,
            "first_published": profile.first_published,
            "last_published": profile.last_published,
            "aliases": list(profile.aliases),
            "seen_with": {
                other: [{"name": v["value"], "count": v["count"]} for v in values]
                for other, values in profile.seen_with.items()
            },
            "months": [{"month": v["value"], "count": v["count"]} for v in profile.published_months],
            "newest": [{"id": h.id, "title": h.title, "published": h.published} for h in profile.documents],
        }
    )


@bp.get("/stats")
@documented(get=Operation("Index statistics", {"200": ("Statistics", "StatsResponse")}, ("400", "503")))
def stats() -> Response:
    state = _state()
    _params(state.no_params)
    data = state.service.stats()
    writes = current_app.extensions.get("searchsvc.writes")
    tasks = counts_at(writes.store.root / TASKS_FILE) if writes is not None else {}
    data["pending_tasks"] = tasks.get("enqueued", 0) + tasks.get("processing", 0)
    return json_response(data)


@bp.get("/health")
@documented(get=Operation("Liveness (does not touch the index)", {"200": ("Alive", "HealthResponse")}))
def health() -> Response:
    """Liveness: answers without touching the index."""
    return json_response({"status": "ok"})


@bp.get("/ready")
@documented(get=Operation("Readiness: the index is open and readable", {"200": ("Ready", "ReadyResponse")}, ("503",)))
def ready() -> Response:
    """Readiness: 503 index_unavailable until the index is open and readable."""
    return json_response(_state().service.ready())


@bp.get("/metrics")
@documented(
    get=Operation(
        "Prometheus metrics (text exposition format; README, Monitoring)",
        {"200": ("Every worker's counters and histograms, added up", {"type": "string"})},
        ("400",),
        json=False,
        media={"text/plain": {"schema": {"type": "string"}}},
        shown=lambda settings: not settings.metrics_port,  # on its own port instead: 404 here
    )
)
def metrics() -> Response:
    """Prometheus's text format (monitoring.py); on SEARCHSVC_METRICS_PORT instead when that is set."""
    state = _state()
    _params(state.no_params)
    if state.settings.metrics_port:
        raise NotFoundError(f"metrics are served on port {state.settings.metrics_port}, not here")
    return Response(state.metrics.exposition(), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
@documented(get=Operation("This document", {"200": ("OpenAPI 3 document", {"type": "object"})}))
def openapi() -> Response:
    return Response(_state().openapi(), mimetype="application/json")


def _start_clock() -> None:
    g.searchsvc_started = time.perf_counter()


def _count(response: Response) -> Response:
    state = current_app.extensions.get("searchsvc")
    started = g.get("searchsvc_started")
    if state is not None and started is not None:
        endpoint = request.endpoint or "none"  # no route matched: one label, whatever the path
        state.metrics.request(endpoint, request.method, response.status_code, time.perf_counter() - started)
    return response


def register(app: Flask, settings: Settings, service: SearchService, metrics: Metrics | None = None) -> None:
    """Install the API on `app`: endpoints, the JSON error contract, security headers, CORS and metrics."""
    metrics = metrics or Metrics(settings)
    app.extensions["searchsvc"] = _State(settings, service, metrics)
    app.register_blueprint(bp)
    register_error_handlers(app, json_response, metrics.refused)
    app.before_request(_start_clock)
    app.after_request(_finish)
    app.after_request(_count)
