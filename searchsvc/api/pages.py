"""The HTML pages: search (/), a document (/doc/<id>), an entity (/entity/<type>/<name>), the query language
(/help) and the search key form (/key). Server-rendered with Jinja (autoescaped), no script: forms and links
carry the whole state, so every page works with the keyboard alone and without JavaScript.

The pages call the search service in-process, through the same request types and limits as the JSON API. Their
own error handler answers in words on an HTML page; the API's JSON error contract is untouched. Access follows
auth.py's one policy; a browser that cannot send a bearer header gives the key once on /key and the page keeps it
in an HttpOnly, SameSite=Strict cookie (auth.py reads it for these pages only).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from searchsvc.api.auth import KEY_COOKIE, authorize, key_matches
from searchsvc.api.entity_profile import MONTH_FACET_SIZE, entity_profile
from searchsvc.api.page_views import (
    ENTITY_LABELS,
    ENTITY_SINGULAR,
    PAGE_SIZE,
    PageQuery,
    joined_snippets,
    marked_paragraphs,
    page_numbers,
    safe_snippet,
    safe_url,
    timelines,
    total_text,
)
from searchsvc.api.read_schemas import SearchRequestSchema, filters_from, load_request
from searchsvc.config import Settings
from searchsvc.errors import (
    ForbiddenError,
    IndexUnavailableError,
    NotFoundError,
    ParameterError,
    ServiceError,
    UnauthorizedError,
)
from searchsvc.extract.types import ENTITY_TYPES
from searchsvc.search.requests import FACETS, SearchRequest
from searchsvc.search.service import SearchResult, SearchService
from searchsvc.text_rules import first_control

log = logging.getLogger("searchsvc")

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")

SIMILAR = 5
FACET_VALUES = 10  # names listed per entity facet


class _PageState:
    def __init__(self, settings: Settings, service: SearchService) -> None:
        self.settings = settings
        self.service = service
        self.schema = SearchRequestSchema(settings)


def _state() -> _PageState:
    return current_app.extensions["searchsvc-pages"]


@bp.before_request
def _authorize() -> None:
    authorize(_state().settings)


@bp.after_request
def _no_store(response: Response) -> Response:
    if _state().settings.search_key:  # pages behind a key are nobody else's to cache
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "entity_labels": ENTITY_LABELS,
        "entity_singular": ENTITY_SINGULAR,
        "search_url": _search_url,
        "entity_url": _entity_url,
        "doc_url": lambda doc_id: url_for("pages.document", doc_id=doc_id),
        "snippet": safe_snippet,
        "snippets": joined_snippets,
        "key_in_use": bool(request.cookies.get(KEY_COOKIE)),
    }


def _search_url(query: PageQuery) -> str:
    return url_for("pages.search") + query.query_string()


def _entity_url(kind: str, name: str) -> str:
    return url_for("pages.entity", kind=kind, name=name)


# -- search --------------------------------------------------------------------------------------------------
@bp.get("/")
def search() -> tuple[str, int]:
    state = _state()
    # One name past the API's limit: the search is still refused for it, and the page stays small.
    query = PageQuery.from_args(request.args, max_names=state.settings.max_filter_values + 1)
    result: SearchResult | None = None
    error: str | None = None
    status = 200
    try:
        result = state.service.search(_search_request(state, query))
    except IndexUnavailableError as exc:
        error, status = _index_unavailable(exc), exc.status
    except ServiceError as exc:  # a query or a filter that cannot be used: said on the page, the form kept
        error, status = _in_words(exc), exc.status
    context: dict[str, Any] = {"query": query, "result": result, "error": error}
    if result is not None:
        numbers, has_next = page_numbers(query.page, result.total, result.total_relation, state.settings.max_offset)
        context.update(
            total=total_text(result.total, result.total_relation),
            facets={kind: result.facets.get(kind, [])[:FACET_VALUES] for kind in ENTITY_TYPES},
            timelines=timelines(result.facets),
            pages=numbers,
            has_next=has_next,
            first_shown=query.offset + 1,
            urls={hit.id: safe_url(hit.url) for hit in result.hits},
        )
    return render_template("search.html", **context), status


def _search_request(state: _PageState, query: PageQuery) -> SearchRequest:
    """The page's query as the API would take it: the same schema's limits, the same request type."""
    data = query.api_params()
    for name, value in data.items():
        values = value if isinstance(value, list) else [value]
        if name != "q" and any(first_control(v) for v in values):
            raise ParameterError(f"the {name.replace('_', ' ')} filter contains a control character")
    params = load_request(state.schema, data)
    if query.offset > state.settings.max_offset:
        raise ParameterError(f"results can be paged up to the {state.settings.max_offset:,}th only")
    return SearchRequest(
        q=params["q"],
        filters=filters_from(params),
        sort=params["sort"],
        limit=PAGE_SIZE,
        offset=query.offset,
        facets=FACETS,
        facet_size=MONTH_FACET_SIZE,
    )


def _in_words(exc: ServiceError) -> str:
    """An error message for people: the service's message, with the parameter's name spelled out."""
    message = exc.message
    if exc.field and exc.field != "q" and not message.startswith(exc.field):
        return f"{exc.field.replace('_', ' ')}: {message}"
    return message[:1].upper() + message[1:]


def _index_unavailable(exc: IndexUnavailableError) -> str:
    return f"{_in_words(exc)}. If it is being built, try again in a minute."


# -- documents and entities ----------------------------------------------------------------------------------
@bp.get("/doc/<path:doc_id>")
def document(doc_id: str) -> str:
    service = _state().service
    record = service.get_document(doc_id)
    if record is None:
        raise NotFoundError(f"there is no document with the id {doc_id!r}")
    found = service.similar(doc_id, SIMILAR)
    similar = found.hits if found is not None else []
    return render_template(
        "document.html",
        doc=record,
        url=safe_url(record["url"]),
        paragraphs=marked_paragraphs(record["body"], record["entities"], record["dates"]),
        similar=similar,
    )


@bp.get("/entity/<kind>/<path:name>")
def entity(kind: str, name: str) -> tuple[str, int]:
    if kind not in ENTITY_TYPES:
        raise NotFoundError(f"entity types are {', '.join(ENTITY_TYPES)}; {kind!r} is not one of them")
    if first_control(name) or len(name) > 200:
        raise NotFoundError("that is not an entity name")
    profile = entity_profile(_state().service, kind, name)
    return (
        render_template(
            "entity.html",
            profile=profile,
            total=total_text(profile.total, profile.total_relation),
            timelines=timelines({"published": profile.published_months, "mentioned": profile.mentioned_months}),
            query=PageQuery(**{kind: (profile.name,)}),  # type: ignore[arg-type]
        ),
        200 if profile.total else 404,
    )


@bp.get("/help")
def help_page() -> str:
    return render_template("help.html")


# -- the search key ------------------------------------------------------------------------------------------
@bp.route("/key", methods=["GET", "POST"])
def key() -> Any:
    settings = _state().settings
    target = _local_path(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("key.html", target=target, needed=bool(settings.search_key), error=None)
    _same_origin_only()
    given = request.form.get("key", "")
    if not (key_matches(given, settings.search_key) or key_matches(given, settings.admin_key)):
        error = "That key is not right." if settings.search_key else "This server needs no key."
        return render_template("key.html", target=target, needed=bool(settings.search_key), error=error), 401
    response = redirect(target, code=303)
    response.set_cookie(KEY_COOKIE, given, httponly=True, samesite="Strict", secure=request.is_secure, path="/")
    return response


@bp.post("/key/forget")
def forget_key() -> Any:
    _same_origin_only()
    response = redirect(url_for("pages.key"), code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="Strict", secure=request.is_secure)
    return response


def _local_path(target: str) -> str:
    """Where to go after the key form: a path on this server only (never //host or a scheme)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.search")
    return target


def _same_origin_only() -> None:
    """Refuse a form posted from another site (a page elsewhere setting or clearing this browser's key)."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site not in ("same-origin", "none"):
        raise ForbiddenError("this form can only be sent from this server's own pages")
    if origin not in (None, "null") and origin != request.host_url.rstrip("/"):
        raise ForbiddenError("this form can only be sent from this server's own pages")


# -- errors, in words ----------------------------------------------------------------------------------------
@bp.errorhandler(Exception)
def _error_page(exc: Exception) -> tuple[str, int]:
    if isinstance(exc, UnauthorizedError):
        target = _local_path(request.full_path.rstrip("?"))
        return render_template("key.html", target=target, needed=True, error=None), 401
    if isinstance(exc, IndexUnavailableError):
        return render_template("error.html", status=exc.status, message=_index_unavailable(exc)), exc.status
    if isinstance(exc, ServiceError):
        return render_template("error.html", status=exc.status, message=_in_words(exc)), exc.status
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = "There is no such page." if status == 404 else (exc.description or exc.name)
        return render_template("error.html", status=status, message=message), status
    # Method and path only: the query string may carry a private query.
    log.exception("unhandled error on page %s %s", request.method, request.path)
    return render_template("error.html", status=500, message="Something went wrong on the server; it was logged."), 500


def register(app: Flask, settings: Settings, service: SearchService) -> None:
    app.extensions["searchsvc-pages"] = _PageState(settings, service)
    app.register_blueprint(bp)
