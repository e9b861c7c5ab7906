"""The write API: documents in, durable tasks out (PUT/POST/DELETE /documents, POST /reindex, GET /tasks).

A write is validated here, stored as a task in SQLite (tasks.py) and acknowledged with 202 only once the
task is committed; the writer thread of whichever worker holds the index's write lock applies it (writes.py).
No Whoosh here either.

Auth: writes need `Authorization: Bearer <SEARCHSVC_ADMIN_KEY>` (403 while no admin key is set); GET /tasks is
a read, open unless SEARCHSVC_SEARCH_KEY is set (then the search key or the admin key opens it).
"""

from __future__ import annotations

import codecs
import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, request

from searchsvc.api.auth import authorize
from searchsvc.api.bodies import read_body
from searchsvc.api.openapi import TASK_ANSWERS, Operation, documented
from searchsvc.api.read_routes import _params, json_response
from searchsvc.api.read_schemas import NoParametersSchema
from searchsvc.api.write_schemas import DEFAULT_WAIT, TaskListRequestSchema, WriteRequestSchema
from searchsvc.config import Settings
from searchsvc.documents import Document, DocumentError, derive_title, document_from_mapping, json_type_name
from searchsvc.errors import (
    DocumentOwnedByFileError,
    IndexUnavailableError,
    InsufficientStorageError,
    NotFoundError,
    ParameterError,
    PayloadTooLargeError,
    ServiceError,
    UnsupportedMediaTypeError,
    owned_by_file_message,
)
from searchsvc.logs import current_request_id
from searchsvc.monitoring import Metrics
from searchsvc.search.service import SearchService
from searchsvc.writes.applier import dump_document
from searchsvc.writes.lifecycle import WriterLifecycle
from searchsvc.writes.tasks import StorageFullError, Task

log = logging.getLogger("searchsvc")

bp = Blueprint("writes", __name__)

NDJSON_TYPES = {"application/x-ndjson", "application/ndjson", "application/jsonl"}
_MAX_TASK_ID = 2**63 - 1  # SQLite's largest integer


class WriteState(WriterLifecycle):
    """Per app: the writer's lifecycle (writes/lifecycle.py), the search service, and prepared schemas."""

    def __init__(self, settings: Settings, service: SearchService, metrics: Metrics | None = None) -> None:
        super().__init__(settings, observe=metrics.tasks_applied if metrics is not None else None)
        self.service = service
        self.write_params = WriteRequestSchema(settings)
        self.list_params = TaskListRequestSchema(settings)
        self.no_params = NoParametersSchema(settings)


def _state() -> WriteState:
    return current_app.extensions["searchsvc.writes"]


# -- auth ----------------------------------------------------------------------------------------------------
@bp.before_request
def _authorize() -> None:
    authorize(_state().settings)


# -- bodies --------------------------------------------------------------------------------------------------
def _check_document(doc: Document) -> None:
    """The document's text, every field of it, within max_document_bytes (as a JSON Lines line is): counting the
    body alone let a 1.4 MB title in, which took 25 s to extract and then came whole with every hit of it."""
    limit = _state().settings.max_document_bytes
    sizes = {
        name: len(text.encode("utf-8"))
        for name, text in (
            ("body", doc.body),
            ("title", doc.title if doc.title != derive_title(doc.body) else ""),  # one sent, not one derived
            ("author", doc.author or ""),
            ("source", doc.source or ""),
            ("url", doc.url or ""),
            ("tags", "".join(doc.tags)),
        )
    }
    size = sum(sizes.values())
    if size > limit:
        name = max(sizes, key=lambda n: sizes[n])  # the field to shorten first
        message = f"{name}: the document is {size} bytes of text, more than the {limit} accepted"
        raise DocumentError("", message, {name: [message]})


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")  # as the read API accepts


def _body() -> bytes:
    """The request body without a UTF-8 byte order mark, which the indexer skips in a file (RFC 8259 lets a
    parser ignore it): a document saved by Notepad reads the same over HTTP as from the source folder."""
    body = read_body(_state().settings.max_body_bytes)  # beyond it: 413 payload_too_large, however it is sent
    return body.removeprefix(codecs.BOM_UTF8)


def _load_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParameterError(f"the request body is not valid JSON: {exc}") from None


def _one_document(doc_id: str) -> Document:
    if not _is_json(request.mimetype):
        raise UnsupportedMediaTypeError(
            f"PUT /documents/<id> takes one JSON document (Content-Type: application/json), "
            f"not {request.mimetype or 'nothing'}"
        )
    data = _load_json(_body())
    if not isinstance(data, dict):
        kind = json_type_name(data)
        raise ParameterError(f"the request body must be one JSON object (a document), not {kind}")
    given = data.get("id")
    if given is not None and str(given) != doc_id:
        raise ParameterError(
            f"the body's id {given!r} differs from the id in the URL {doc_id!r}: leave it out or make them equal",
            "id",
        )
    try:
        doc = document_from_mapping(data, default_id=doc_id)
        _check_document(doc)
    except DocumentError as exc:
        raise ParameterError(exc.reason, next(iter(exc.messages), None)) from None
    return doc


def _batch_items() -> list[tuple[int, Any, str | None]]:
    """(index, parsed item, parse error) for each document of a JSON array or NDJSON body."""
    limit = _state().settings.max_batch
    if _is_json(request.mimetype):
        data = _load_json(_body())
        if not isinstance(data, list):
            raise ParameterError(
                f"POST /documents takes a JSON array of documents, not {json_type_name(data)} "
                "(one document: PUT /documents/<id>)"
            )
        items: list[tuple[int, Any, str | None]] = [(i, item, None) for i, item in enumerate(data)]
    elif request.mimetype in NDJSON_TYPES:
        items = []
        for number, line in enumerate(_lines(_body()), 1):
            if not line.strip():
                continue
            try:
                items.append((len(items), orjson.loads(line), None))
            except orjson.JSONDecodeError as exc:
                items.append((len(items), None, f"line {number} is not valid JSON: {exc.msg}"))
            if len(items) > limit:
                break
    else:
        raise UnsupportedMediaTypeError(
            "POST /documents takes a JSON array (Content-Type: application/json) or one document a line "
            f"(Content-Type: application/x-ndjson), not {request.mimetype or 'nothing'}"
        )
    if not items:
        raise ParameterError("the request holds no documents")
    if len(items) > limit:
        raise PayloadTooLargeError(f"at most {limit} documents are accepted in one request; split the batch")
    return items


def _lines(body: bytes) -> Iterator[bytes]:
    """The body's lines one at a time: a batch over the limit stops at its first extra line instead of the whole
    body being split into a list first."""
    start = 0
    while start <= len(body):
        end = body.find(b"\n", start)
        if end < 0:
            end = len(body)
        yield body[start:end]
        start = end + 1


def _item_id(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("id"), str | int) and not isinstance(item["id"], bool):
        return str(item["id"])
    return None


# -- answers -------------------------------------------------------------------------------------------------
def _enqueue(kind: str, payload: dict[str, Any], details: dict[str, Any]) -> Response:
    state = _state()
    params = _params(state.write_params)
    queue = state.writable_queue()
    try:
        task = queue.enqueue(kind, payload, details, current_request_id())  # committed to disk when this returns
    except StorageFullError as exc:
        log.error("a write was refused: %s", exc.strerror)
        raise InsufficientStorageError(f"{exc.strerror}; the write was not accepted") from None
    except sqlite3.OperationalError as exc:  # locked past the timeout, or a lock protocol error after a crash
        log.warning("a write was refused: task database: %s", exc)
        raise IndexUnavailableError("the task database is busy; the write was not accepted: try again") from None
    log.info("task %d accepted: %s %s", task.id, kind, details)
    if params["wait"]:
        timeout = DEFAULT_WAIT if params["timeout"] is None else params["timeout"]
        current = queue.wait(task.id, timeout) or task
        if current.finished:
            if current.status == "succeeded":
                try:  # this worker answers from the new commit at once; the others within refresh_interval
                    state.service.refresh()
                except ServiceError:
                    pass
            return json_response({"task": current.summary()}, 200)
        task = current
    response = json_response({"task": task.summary()}, 202)
    response.headers["Location"] = f"/tasks/{task.id}"
    return response


# -- endpoints -----------------------------------------------------------------------------------------------
def _refuse_if_from_a_file(doc_id: str) -> None:
    """A document indexed from a file is owned by its file: the next `searchsvc index` (which the container
    runs at every start) would undo an HTTP write to it, so the write is refused (409)."""
    if _state().service.from_files([doc_id]):
        raise DocumentOwnedByFileError(doc_id)


@bp.put("/documents/<path:doc_id>")
@documented(
    put=Operation(
        "Add or replace one document",
        TASK_ANSWERS,
        # 404: an id the URL rule cannot carry (empty, a leading '/', some with a newline) reaches no endpoint.
        ("400", "404", "409", "413", "415", "503"),
        query=WriteRequestSchema,
        body={"application/json": {"schema": "DocumentInput"}},
    )
)
def put_document(doc_id: str) -> Response:
    _params(_state().write_params)  # unknown parameters are refused before the body is read
    doc = _one_document(doc_id)
    _refuse_if_from_a_file(doc.id)
    return _enqueue("documents", {"documents": [[0, dump_document(doc)]], "errors": []}, {"id": doc.id})


@bp.post("/documents")
@documented(
    post=Operation(
        "Add or replace many documents: a JSON array, or NDJSON (one document a line)",
        TASK_ANSWERS,
        ("400", "413", "415", "503"),
        query=WriteRequestSchema,
        body=lambda settings: {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/DocumentInput"},
                    "maxItems": settings.max_batch,
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
        description=lambda settings: (
            f"At most {settings.max_batch} documents and {settings.max_body_bytes} bytes. "
            "Invalid documents are reported in the task by index and id; the others are applied."
        ),
    )
)
def post_documents() -> Response:
    _params(_state().write_params)
    accepted: list[list[Any]] = []
    errors: list[dict[str, Any]] = []
    items = _batch_items()
    for index, item, parse_error in items:
        if parse_error is not None:
            errors.append({"index": index, "id": None, "message": parse_error})
            continue
        try:
            doc = document_from_mapping(item)
            _check_document(doc)
        except DocumentError as exc:
            errors.append({"index": index, "id": _item_id(item), "message": exc.reason})
            continue
        accepted.append([index, dump_document(doc)])
    owned = _state().service.from_files(str(doc["id"]) for _, doc in accepted)
    if owned:
        for index, doc in accepted:
            if doc["id"] in owned:
                errors.append({"index": index, "id": doc["id"], "message": owned_by_file_message(doc["id"])})
        accepted = [[index, doc] for index, doc in accepted if doc["id"] not in owned]
        errors.sort(key=lambda error: error["index"])
    details = {"received": len(items), "accepted": len(accepted), "rejected": len(errors)}
    return _enqueue("documents", {"documents": accepted, "errors": errors}, details)


@bp.delete("/documents/<path:doc_id>")
@documented(
    delete=Operation(
        "Delete one document (a missing id succeeds with deleted: 0)",
        TASK_ANSWERS,
        ("400", "404", "409", "503"),
        query=WriteRequestSchema,
    )
)
def delete_document(doc_id: str) -> Response:
    _refuse_if_from_a_file(doc_id)
    return _enqueue("delete", {"ids": [doc_id]}, {"id": doc_id})


@bp.post("/reindex")
@documented(
    post=Operation(
        "Rebuild the index from the source folders and swap it in; searches go on",
        TASK_ANSWERS,
        ("400", "503"),
        query=WriteRequestSchema,
    )
)
def reindex() -> Response:
    return _enqueue("reindex", {}, {})


@bp.get("/tasks/<int:task_id>")
@documented(
    get=Operation(
        "One task: status, counts, per-document errors", {"200": ("The task", "TaskResponse")}, ("400", "404")
    )
)
def task(task_id: int) -> Response:
    state = _state()
    _params(state.no_params)
    queue = state.queue(create=False)
    found: Task | None = queue.get(task_id) if queue is not None and task_id <= _MAX_TASK_ID else None
    if found is None:
        raise NotFoundError(f"no task with id {task_id}", "task_id")
    return json_response({"task": found.summary()})


@bp.get("/tasks")
@documented(
    get=Operation(
        "Recent tasks, newest first", {"200": ("Tasks", "TaskListResponse")}, ("400",), query=TaskListRequestSchema
    )
)
def tasks() -> Response:
    state = _state()
    params = _params(state.list_params)
    queue = state.queue(create=False)
    found = queue.list(params["status"], params["limit"], params["before"]) if queue is not None else []
    next_page = found[-1].id if len(found) == params["limit"] and found[-1].id > 1 else None
    return json_response({"tasks": [t.summary() for t in found], "next": next_page})


def register(app: Flask, settings: Settings, service: SearchService, metrics: Metrics | None = None) -> WriteState:
    """Install the write API on `app` and start this process's task writer (when writes are enabled or tasks
    are stored). gunicorn must not preload the app: the writer thread belongs in the workers."""
    state = WriteState(settings, service, metrics)
    app.extensions["searchsvc.writes"] = state
    app.register_blueprint(bp)
    state.ensure_writer()
    return state


def shutdown(app: Flask) -> None:
    """Stop the app's writer thread (what tests call; a server's exit does it through atexit)."""
    state = app.extensions.get("searchsvc.writes")
    if state is not None:
        state.stop()
