"""The write API in process: auth on every write endpoint, add/replace/delete seen by searches, batches with
invalid documents, NDJSON, task listing, waits, reindex, bad requests and the OpenAPI description."""

from __future__ import annotations

import codecs
import gzip
import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MODEL, SEED_ID, app_config, assert_error, cap_database, hit_ids
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from searchsvc.api import write_routes as api_writes
from searchsvc.api.write_schemas import DocumentInputSchema, TaskListResponseSchema, TaskResponseSchema
from searchsvc.app import create_app
from searchsvc.config import load_settings
from searchsvc.documents import DocumentSchema as LoaderDocumentSchema
from searchsvc.documents import document_from_mapping
from searchsvc.index.indexer import apply_changes
from searchsvc.index.store import IndexStore
from searchsvc.search import service as search_module
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService
from searchsvc.writes import applier as writes
from searchsvc.writes.lifecycle import TASKS_FILE
from searchsvc.writes.tasks import StorageFullError, TaskQueue

KEY = "admin-7c1f0e9a-test-key"
NDJSON = "application/x-ndjson"
AUTH = {"Authorization": f"Bearer {KEY}"}
CORPUS_DOCS = 8  # the seed article and the seven small documents of conftest


def task_of(response: Any, status: int) -> dict[str, Any]:
    """The task of a write's answer, checked against its schema."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert TaskResponseSchema().validate(body) == {}, TaskResponseSchema().validate(body)
    return body["task"]  # type: ignore[no-any-return]


@pytest.fixture
def wapp(make_app: Any, own_index_dir: Path, corpus: Path) -> Flask:
    """Writes enabled, with a running task writer, on a private copy of the test index."""
    return make_app(own_index_dir, admin_key=KEY, sources=str(corpus))  # type: ignore[no-any-return]


@pytest.fixture
def wclient(wapp: Flask) -> FlaskClient:
    return wapp.test_client()


@pytest.fixture
def idle_client(make_app: Any, own_index_dir: Path) -> FlaskClient:
    """Writes enabled but no writer thread: tasks are accepted and stay enqueued."""
    app = make_app(own_index_dir, admin_key=KEY)
    api_writes.shutdown(app)
    return app.test_client()  # type: ignore[no-any-return]


def put(client: FlaskClient, doc_id: str, doc: dict[str, Any], **params: str) -> Any:
    return client.put(f"/documents/{doc_id}", json=doc, headers=AUTH, query_string=params)


# -- auth ----------------------------------------------------------------------------------------------------
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("PUT", "/documents/auth-doc", {"json": {"body": "An auth test."}}),
    ("POST", "/documents", {"json": [{"id": "auth-batch", "body": "An auth test."}]}),
    ("POST", "/documents", {"data": '{"id": "auth-nd", "body": "x"}\n', "content_type": NDJSON}),
    ("DELETE", "/documents/auth-doc", {}),
    ("POST", "/reindex", {}),
]
# (Authorization header, expected status): missing, wrong, almost right, right
KEYS: list[tuple[str | None, int]] = [
    (None, 401),
    ("", 401),
    ("Bearer", 401),
    ("Bearer wrong", 401),
    (f"Basic {KEY}", 401),
    (KEY, 401),
    (f"Bearer {KEY[:-1]}", 401),
    (f"Bearer {KEY}x", 401),
    (f"Bearer {KEY.upper()}", 401),
    (f"Bearer {KEY}", 202),
    (f"bearer  {KEY} ", 202),
]


@pytest.mark.parametrize(("method", "url", "kwargs"), WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
def test_every_write_needs_the_admin_key(idle_client: FlaskClient, method: str, url: str, kwargs: Any) -> None:
    for header, status in KEYS:
        headers = {} if header is None else {"Authorization": header}
        response = idle_client.open(url, method=method, headers=headers, **kwargs)
        if status == 401:
            error = assert_error(response, 401, "unauthorized")
            assert KEY not in error["message"]
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert task_of(response, 202)["status"] == "enqueued", header


@pytest.mark.parametrize(("method", "url", "kwargs"), WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
def test_writes_are_forbidden_without_an_admin_key(
    make_app: Any, own_index_dir: Path, method: str, url: str, kwargs: Any
) -> None:
    client = make_app(own_index_dir).test_client()
    for headers in ({}, AUTH, {"Authorization": "Bearer "}):
        error = assert_error(client.open(url, method=method, headers=headers, **kwargs), 403, "forbidden")
        assert "SEARCHSVC_ADMIN_KEY" in error["message"]
    assert not (own_index_dir / "tasks.sqlite").exists()


def test_no_admin_key_and_no_tasks_means_no_writer(make_app: Any, own_index_dir: Path) -> None:
    app = make_app(own_index_dir)
    assert app.extensions["searchsvc.writes"].writer is None
    client = app.test_client()
    assert client.get("/tasks").get_json() == {"tasks": [], "next": None}
    assert_error(client.get("/tasks/1"), 404, "not_found", "task_id")
    assert not (own_index_dir / "tasks.sqlite").exists()  # reads never create the queue


def test_tasks_are_reads_guarded_by_the_search_key(make_app: Any, own_index_dir: Path) -> None:
    app = make_app(own_index_dir, admin_key=KEY, search_key="reader-key")
    api_writes.shutdown(app)
    client = app.test_client()
    assert_error(client.get("/tasks"), 401, "unauthorized")
    assert_error(client.get("/tasks", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    assert client.get("/tasks", headers={"Authorization": "Bearer reader-key"}).status_code == 200
    assert client.get("/tasks", headers=AUTH).status_code == 200
    # The search key does not open writes.
    response = client.put("/documents/x", json={"body": "x"}, headers={"Authorization": "Bearer reader-key"})
    assert_error(response, 401, "unauthorized")
    assert client.put("/documents/x", json={"body": "x"}, headers=AUTH).status_code == 202


def test_keys_never_reach_the_log(idle_client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        idle_client.put("/documents/k", json={"body": "x"}, headers={"Authorization": "Bearer wrong-key-123"})
        idle_client.put("/documents/k", json={"body": "x"}, headers=AUTH)
        idle_client.post("/documents", json=[{"id": "k", "body": "x"}], headers=AUTH)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert KEY not in text and "wrong-key-123" not in text


def test_cors_preflight_allows_writes(make_app: Any, own_index_dir: Path) -> None:
    client = make_app(own_index_dir, cors_origins="https://admin.example").test_client()
    preflight = client.options(
        "/documents/x", headers={"Origin": "https://admin.example", "Access-Control-Request-Method": "PUT"}
    )
    assert preflight.status_code == 200
    allowed = {m.strip() for m in preflight.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"PUT", "DELETE"} <= allowed


# -- writes seen by searches ---------------------------------------------------------------------------------
def test_put_replace_and_delete(wclient: FlaskClient) -> None:
    doc = {
        "title": "Okapi sighted",
        "body": "An okapi was seen in the Ituri forest in Congo on Monday.",
        "published": "2021-03-19",
        "tags": ["wildlife"],
    }
    places_before = wclient.get("/stats").get_json()["entities"]["place"]
    accepted = task_of(put(wclient, "zoo/okapi", doc), 202)
    assert accepted["kind"] == "documents" and accepted["details"] == {"id": "zoo/okapi"}
    assert task_of(wclient.get(f"/tasks/{accepted['id']}"), 200)["id"] == accepted["id"]
    done = wclient.application.extensions["searchsvc.writes"].queue().wait(accepted["id"], 30).summary()
    assert done["status"] == "succeeded" and done["result"] == {"indexed": 1, "rejected": 0, "errors": []}
    assert hit_ids(wclient.get("/search?q=okapi").get_json()) == ["zoo/okapi"]
    stored = wclient.get("/documents/zoo/okapi").get_json()
    assert stored["title"] == "Okapi sighted" and stored["tags"] == ["wildlife"]
    assert any("Congo" in p["name"] for p in stored["entities"]["place"])
    assert stored["dates"][0]["value"] == "2021-03-15"  # "on Monday", resolved against the publication date
    assert wclient.get("/stats").get_json()["entities"]["place"] > places_before

    replaced = task_of(
        put(wclient, "zoo/okapi", {"id": "zoo/okapi", "body": "A zebra crossed the road."}, wait="true"), 200
    )
    assert replaced["status"] == "succeeded" and replaced["attempts"] == 1
    assert wclient.get("/search?q=okapi").get_json()["total"] == 0
    assert hit_ids(wclient.get("/search?q=zebra").get_json()) == ["zoo/okapi"]
    # The replaced version's names are gone from the counts (the lexicon keeps them until a merge).
    assert wclient.get("/stats").get_json()["entities"]["place"] == places_before
    assert wclient.get("/documents/zoo/okapi").get_json()["title"] == "A zebra crossed the road"
    assert wclient.get("/stats").get_json()["documents"] == CORPUS_DOCS + 1

    deleted = task_of(wclient.delete("/documents/zoo/okapi?wait=1", headers=AUTH), 200)
    assert deleted["kind"] == "delete" and deleted["result"] == {"deleted": 1}
    assert_error(wclient.get("/documents/zoo/okapi"), 404, "not_found", "doc_id")
    assert wclient.get("/search?q=zebra").get_json()["total"] == 0
    again = task_of(wclient.delete("/documents/zoo/okapi?wait=1", headers=AUTH), 200)
    assert again["status"] == "succeeded" and again["result"] == {"deleted": 0}
    assert wclient.get("/stats").get_json()["documents"] == CORPUS_DOCS


def test_a_document_indexed_from_a_file_is_owned_by_its_file(wclient: FlaskClient) -> None:
    """`searchsvc index --prune` (run at every start of the container) would put back a file's document
    replaced or deleted over HTTP: such writes are refused, at the door (409) and when applied."""
    title = wclient.get("/documents/harbour-b").get_json()["title"]
    body = assert_error(put(wclient, "harbour-b", {"body": "Replaced?"}), 409, "document_owned_by_file", "id")
    assert "indexed from a file" in body["message"]
    assert_error(wclient.delete("/documents/harbour-b", headers=AUTH), 409, "document_owned_by_file", "id")
    batch = [{"id": "harbour-b", "body": "Replaced?"}, {"id": "not-a-file", "body": "Added over HTTP."}]
    task = task_of(wclient.post("/documents?wait=1", json=batch, headers=AUTH), 200)
    assert task["details"] == {"received": 2, "accepted": 1, "rejected": 1}
    assert task["result"]["indexed"] == 1 and task["result"]["errors"][0]["index"] == 0
    assert "indexed from a file" in task["result"]["errors"][0]["message"]
    # Accepted before the file was indexed (here: put in the queue directly), refused when applied.
    queue = wclient.application.extensions["searchsvc.writes"].queue()
    put_task = queue.enqueue("documents", {"documents": [[0, {"id": "harbour-b", "body": "Late."}]], "errors": []})
    delete_task = queue.enqueue("delete", {"ids": ["harbour-b"]})
    put_done, delete_done = queue.wait(put_task.id, 30), queue.wait(delete_task.id, 30)
    assert put_done is not None and put_done.result is not None and put_done.result["indexed"] == 0
    assert "indexed from a file" in put_done.result["errors"][0]["message"]
    assert delete_done is not None and delete_done.status == "failed"
    assert "indexed from a file" in (delete_done.error or "")
    assert wclient.get("/documents/harbour-b").get_json()["title"] == title


def test_a_batch_reports_invalid_documents_by_index_and_id_and_applies_the_rest(wclient: FlaskClient) -> None:
    batch = [
        {"id": "batch-1", "title": "Quokka census", "body": "Rangers counted quokkas on Rottnest Island."},
        {"id": "bad-date", "body": "A document with a bad date.", "published": "yesterday"},
        {"id": 7, "text": "Integer ids and the text alias are accepted, as the loaders accept them."},
        "not an object",
        {"title": "No id"},
        {"id": "no-body", "body": "   "},
        {"id": "batch-1", "title": "Quokka census", "body": "Rangers counted 900 quokkas on Rottnest."},
    ]
    response = wclient.post("/documents?wait=true&timeout=30", json=batch, headers=AUTH)
    task = task_of(response, 200)
    assert task["details"] == {"received": 7, "accepted": 3, "rejected": 4}
    assert task["result"]["indexed"] == 3 and task["result"]["rejected"] == 4
    errors = task["result"]["errors"]
    assert [(e["index"], e["id"]) for e in errors] == [(1, "bad-date"), (3, None), (4, None), (5, "no-body")]
    assert "published" in errors[0]["message"] and "id: is required" in errors[2]["message"]
    assert "body" in errors[3]["message"]
    # The later of two documents with one id wins; both were valid, so both count as indexed.
    assert hit_ids(wclient.get("/search?q=quokkas").get_json()) == ["batch-1"]
    assert "900" in wclient.get("/documents/batch-1").get_json()["body"]
    assert wclient.get("/documents/7").status_code == 200
    assert wclient.get("/documents/bad-date").status_code == 404


def test_ndjson(wclient: FlaskClient) -> None:
    lines = [
        json.dumps({"id": "nd-1", "body": "Narwhals were filmed off Greenland."}),
        "",
        json.dumps({"id": "nd-2", "body": "More narwhals were counted near Svalbard.", "date": "2022-05-01"}),
        "{broken",
        json.dumps({"id": "nd-3", "body": "A third narwhal story."}),
    ]
    response = wclient.post("/documents?wait=true", data="\n".join(lines) + "\n", content_type=NDJSON, headers=AUTH)
    task = task_of(response, 200)
    assert task["details"] == {"received": 4, "accepted": 3, "rejected": 1}
    [error] = task["result"]["errors"]
    assert (error["index"], error["id"]) == (2, None)
    assert error["message"].startswith("line 4 is not valid JSON")
    assert sorted(hit_ids(wclient.get("/search?q=narwhal").get_json())) == ["nd-1", "nd-2", "nd-3"]
    assert wclient.get("/documents/nd-2").get_json()["published"] == "2022-05-01"


def test_a_utf8_byte_order_mark_is_skipped_as_the_indexer_skips_it_in_a_file(idle_client: FlaskClient) -> None:
    """A BOM was a 400 for PUT, and lost an NDJSON body's first document, where the same .json/.jsonl file
    from the source folder indexes whole."""
    bom = codecs.BOM_UTF8
    one = idle_client.put(
        "/documents/bom-1", data=bom + b'{"body": "Saved by Notepad."}', headers=AUTH, content_type="application/json"
    )
    assert task_of(one, 202)["details"] == {"id": "bom-1"}
    lines = bom + b'{"id": "bom-2", "body": "First line."}\n{"id": "bom-3", "body": "Second line."}\n'
    many = idle_client.post("/documents", data=lines, headers=AUTH, content_type=NDJSON)
    assert task_of(many, 202)["details"] == {"received": 2, "accepted": 2, "rejected": 0}
    array = idle_client.post(
        "/documents", data=bom + b'[{"id": "bom-4", "body": "x"}]', headers=AUTH, content_type="application/json"
    )
    assert task_of(array, 202)["details"] == {"received": 1, "accepted": 1, "rejected": 0}


def test_a_fresh_service_creates_its_index_on_the_first_write(make_app: Any, tmp_path: Path) -> None:
    client = make_app(tmp_path / "new-index", admin_key=KEY).test_client()
    assert_error(client.get("/ready"), 503, "index_unavailable")
    task_of(put(client, "first", {"body": "The very first document."}, wait="true"), 200)
    assert client.get("/stats").get_json()["documents"] == 1
    assert hit_ids(client.get("/search?q=first").get_json()) == ["first"]


def test_reindex_rebuilds_from_sources_and_keeps_documents_added_over_http(wclient: FlaskClient) -> None:
    task_of(
        put(wclient, "http-only", {"body": "Pangolins are trafficked more than any other mammal."}, wait="true"), 200
    )
    generation = wclient.get("/stats").get_json()["generation"]
    task = task_of(wclient.post("/reindex?wait=true&timeout=60", headers=AUTH), 200)
    assert task["kind"] == "reindex" and task["status"] == "succeeded", task
    assert task["result"]["indexed"] == CORPUS_DOCS and task["result"]["failed"] == 0
    stats = wclient.get("/stats").get_json()
    assert stats["generation"] != generation and stats["documents"] == CORPUS_DOCS + 1
    assert hit_ids(wclient.get("/search?q=pangolins").get_json()) == ["http-only"]
    assert hit_ids(wclient.get('/search?q="Belt and Road"').get_json()) == [SEED_ID]


def test_reindex_without_sources_fails(make_app: Any, own_index_dir: Path, tmp_path: Path) -> None:
    client = make_app(own_index_dir, admin_key=KEY, sources=str(tmp_path / "missing")).test_client()
    generation = client.get("/stats").get_json()["generation"]
    task = task_of(client.post("/reindex?wait=true&timeout=30", headers=AUTH), 200)
    assert task["status"] == "failed" and "SEARCHSVC_SOURCES" in task["error"] and task["result"] is None
    assert client.get("/stats").get_json()["generation"] == generation


def test_reindex_from_a_source_folder_found_empty_fails_and_changes_nothing(make_app: Any, tmp_path: Path) -> None:
    """An unmounted volume is an empty folder, not a missing one: the rebuild swapped in an index without
    any of the documents that came from it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Ferries\n\nFerries resumed service in Porto.")
    client = make_app(tmp_path / "index", admin_key=KEY, sources=str(docs)).test_client()
    assert task_of(client.post("/reindex?wait=true&timeout=60", headers=AUTH), 200)["status"] == "succeeded"
    generation = client.get("/stats").get_json()["generation"]
    (docs / "a.txt").unlink()
    task = task_of(client.post("/reindex?wait=true&timeout=60", headers=AUTH), 200)
    assert task["status"] == "failed" and "the index was not changed" in task["error"], task
    assert client.get("/stats").get_json()["generation"] == generation
    assert hit_ids(client.get("/search?q=ferries").get_json()) == ["a"]


# -- tasks ---------------------------------------------------------------------------------------------------
def test_task_listing_and_paging(idle_client: FlaskClient) -> None:
    ids = [task_of(put(idle_client, f"t{i}", {"body": f"Task {i}."}), 202)["id"] for i in range(5)]
    response = idle_client.get("/tasks?limit=2")
    assert response.status_code == 200 and TaskListResponseSchema().validate(response.get_json()) == {}
    page = response.get_json()
    assert [t["id"] for t in page["tasks"]] == ids[:2:-1] and page["next"] == ids[3]
    page2 = idle_client.get(f"/tasks?limit=2&before={page['next']}").get_json()
    assert [t["id"] for t in page2["tasks"]] == [ids[2], ids[1]]
    page3 = idle_client.get(f"/tasks?limit=2&before={page2['next']}").get_json()
    assert [t["id"] for t in page3["tasks"]] == [ids[0]] and page3["next"] is None
    assert [t["id"] for t in idle_client.get("/tasks?status=enqueued").get_json()["tasks"]] == ids[::-1]
    assert idle_client.get("/tasks?status=succeeded").get_json()["tasks"] == []
    one = task_of(idle_client.get(f"/tasks/{ids[0]}"), 200)
    assert one["details"] == {"id": "t0"} and one["status"] == "enqueued"


def test_a_task_row_with_damaged_json_does_not_make_tasks_answer_500(
    idle_client: FlaskClient, own_index_dir: Path
) -> None:
    task_id = task_of(put(idle_client, "damaged", {"body": "A damaged row."}), 202)["id"]
    db = sqlite3.connect(own_index_dir / TASKS_FILE)
    db.execute("UPDATE tasks SET details = '{oops', result = 'nor this' WHERE id = ?", (task_id,))
    db.commit()
    db.close()
    response = idle_client.get("/tasks")
    assert response.status_code == 200 and TaskListResponseSchema().validate(response.get_json()) == {}
    assert task_of(idle_client.get(f"/tasks/{task_id}"), 200)["details"] == {}


def test_wait_gives_up_at_the_timeout_with_202(idle_client: FlaskClient) -> None:
    response = put(idle_client, "slow", {"body": "Nobody applies this."}, wait="true", timeout="0.2")
    task = task_of(response, 202)
    assert task["status"] == "enqueued" and response.headers["Location"] == f"/tasks/{task['id']}"


def test_a_full_disk_is_507(idle_client: FlaskClient, own_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The task database may not grow past 48 pages (a real SQLITE_FULL, see conftest.cap_database): once it is
    full, a write is refused with 507 and stores nothing; reads still work."""
    assert put(idle_client, "before", {"body": "Accepted while there is room."}).status_code == 202
    cap_database(monkeypatch, own_index_dir / "tasks.sqlite", pages=48)
    queue = idle_client.application.extensions["searchsvc.writes"].queue()
    with pytest.raises(StorageFullError):
        for n in range(1000):
            queue.enqueue("documents", {"documents": [[0, {"id": f"filler{n}", "body": "y" * 4000}]], "errors": []})
    count = len(queue.list(limit=2000))
    error = assert_error(
        put(idle_client, "x", {"body": "A document too big for what is left. " * 500}), 507, "storage_full"
    )
    assert "not accepted" in error["message"]
    assert len(queue.list(limit=2000)) == count
    assert idle_client.get("/tasks", headers=AUTH).status_code == 200


def test_a_busy_task_database_is_a_503_not_a_500(idle_client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("locking protocol")

    monkeypatch.setattr(TaskQueue, "enqueue", busy)
    assert_error(put(idle_client, "x", {"body": "x"}), 503, "index_unavailable")


def test_a_foreign_index_directory_is_not_written(make_app: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an index")
    client = make_app(tmp_path, admin_key=KEY).test_client()
    assert_error(put(client, "x", {"body": "x"}), 503, "index_unavailable")
    assert not (tmp_path / "tasks.sqlite").exists()


BIG = "word " * 300
BODY = {"json": {"body": "x"}}
PARAM, UNKNOWN, TOO_LARGE = "invalid_parameter", "unknown_parameter", "payload_too_large"
MEDIA = "unsupported_media_type"
# (method, url, keyword arguments, status, code, field), on an app with max_batch=3, max_body_bytes=2000 and
# max_document_bytes=1000
GZIPPED: dict[str, Any] = {"environ_overrides": {"HTTP_CONTENT_ENCODING": "gzip"}}
GZIP_NDJSON: dict[str, Any] = {**GZIPPED, "content_type": NDJSON}
BAD_WRITES: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
    ("PUT", "/documents/a", {"data": '{"body": "x"}', "content_type": "text/plain"}, 415, MEDIA, None),
    ("PUT", "/documents/a", {"data": '{"body": "x"}'}, 415, MEDIA, None),
    ("PUT", "/documents/a", {"data": "{nope", "content_type": "application/json"}, 400, PARAM, None),
    ("PUT", "/documents/a", {"json": [{"body": "x"}]}, 400, PARAM, None),
    ("PUT", "/documents/a", {"json": {"id": "b", "body": "x"}}, 400, PARAM, "id"),
    ("PUT", "/documents/a", {"json": {"title": "no body"}}, 400, PARAM, "body"),
    ("PUT", "/documents/a", {"json": {"body": "x", "published": "2021-02-30"}}, 400, PARAM, "published"),
    ("PUT", "/documents/a", {"json": {"body": "x", "tags": 5}}, 400, PARAM, "tags"),
    ("PUT", "/documents/a%01b", BODY, 400, PARAM, "id"),
    ("PUT", "/documents/" + "x" * 300, BODY, 400, PARAM, "id"),
    ("PUT", "/documents/a", {"json": {"body": BIG}}, 400, PARAM, "body"),
    # Every field counts, not the body alone: a 1.4 MB title was accepted, then came whole with every hit.
    ("PUT", "/documents/a", {"json": {"body": "x", "title": BIG}}, 400, PARAM, "title"),
    ("PUT", "/documents/a", {"json": {"body": "x", "tags": [f"tag-{i:06d}" for i in range(110)]}}, 400, PARAM, "tags"),
    ("PUT", "/documents/a", {"json": {"body": "x" * 600, "author": "y" * 500}}, 400, PARAM, "body"),
    ("PUT", "/documents/a?wiat=true", BODY, 400, UNKNOWN, "wiat"),
    ("PUT", "/documents/a?timeout=5", BODY, 400, PARAM, "timeout"),
    ("PUT", "/documents/a?wait=true&timeout=61", BODY, 400, PARAM, "timeout"),
    ("PUT", "/documents/a?wait=true&timeout=nan", BODY, 400, PARAM, "timeout"),
    ("PUT", "/documents/a?wait=maybe", BODY, 400, PARAM, "wait"),
    ("PUT", "/documents/a?wait=1&wait=0", BODY, 400, PARAM, "wait"),
    ("POST", "/documents", {"json": {"id": "a", "body": "x"}}, 400, PARAM, None),
    ("POST", "/documents", {"json": []}, 400, PARAM, None),
    ("POST", "/documents", {"data": "\n\n", "content_type": NDJSON}, 400, PARAM, None),
    ("POST", "/documents", {"data": "id=a", "content_type": "multipart/form-data"}, 415, MEDIA, None),
    # A gzipped batch was read as one unreadable NDJSON line: 202, a task that wrote nothing.
    ("POST", "/documents", {"data": gzip.compress(b'{"id": "a", "body": "x"}\n'), **GZIP_NDJSON}, 415, MEDIA, None),
    ("POST", "/documents", {"data": '{"id": "a", "body": "x"}\n', **GZIP_NDJSON}, 415, MEDIA, None),
    ("PUT", "/documents/a", {"data": '{"body": "x"}', **GZIPPED, "content_type": "application/json"}, 415, MEDIA, None),
    ("POST", "/documents", {"json": [{"id": str(i), "body": "x"} for i in range(4)]}, 413, TOO_LARGE, None),
    ("POST", "/documents", {"data": "{}\n" * 4, "content_type": NDJSON}, 413, TOO_LARGE, None),
    ("POST", "/documents", {"json": [{"id": "a", "body": "x" * 3000}]}, 413, TOO_LARGE, None),
    ("POST", "/documents?limit=5", {"json": [{"id": "a", "body": "x"}]}, 400, UNKNOWN, "limit"),
    ("DELETE", "/documents/a?force=1", {}, 400, UNKNOWN, "force"),
    ("POST", "/reindex?full=1", {}, 400, UNKNOWN, "full"),
    ("GET", "/tasks?status=done", {}, 400, PARAM, "status"),
    ("GET", "/tasks?limit=0", {}, 400, PARAM, "limit"),
    ("GET", "/tasks?limit=1001", {}, 400, PARAM, "limit"),
    ("GET", "/tasks?before=x", {}, 400, PARAM, "before"),
    ("GET", "/tasks?verbose=1", {}, 400, UNKNOWN, "verbose"),
    ("GET", "/tasks/1?x=1", {}, 400, UNKNOWN, "x"),
    ("GET", "/tasks/424242", {}, 404, "not_found", "task_id"),
    ("GET", "/tasks/99999999999999999999999", {}, 404, "not_found", "task_id"),
    ("GET", "/tasks/abc", {}, 404, "not_found", None),
    ("PATCH", "/documents/a", BODY, 405, "method_not_allowed", None),
    ("GET", "/reindex", {}, 405, "method_not_allowed", None),
]


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory: pytest.TempPathFactory, index_dir: Path) -> Iterator[Flask]:
    """Small limits, writes enabled, no writer thread; shared by the table below, which never writes."""
    target = tmp_path_factory.mktemp("strict") / "index"
    shutil.copytree(index_dir, target)
    app = create_app(app_config(target, admin_key=KEY, max_batch=3, max_body_bytes=2000, max_document_bytes=1000))
    api_writes.shutdown(app)
    yield app
    api_writes.shutdown(app)


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code", "field"),
    BAD_WRITES,
    ids=[f"{m} {u[:40]} {str(k)[:30]}" for m, u, k, *_ in BAD_WRITES],
)
def test_bad_writes(
    strict_app: Flask,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = strict_app.test_client().open(url, method=method, headers=AUTH, **kwargs)
    assert_error(response, status, code, field)
    assert strict_app.extensions["searchsvc.writes"].queue().list() == []  # nothing was accepted


# -- OpenAPI -------------------------------------------------------------------------------------------------
def test_openapi_describes_the_write_api(make_app: Any, own_index_dir: Path) -> None:
    spec = (
        make_app(own_index_dir, search_key="reader")
        .test_client()
        .get("/openapi.json", headers={"Authorization": "Bearer reader"})
        .get_json()
    )
    validate(spec)
    put_op = spec["paths"]["/documents/{doc_id}"]["put"]
    assert {"get", "put", "delete"} <= set(spec["paths"]["/documents/{doc_id}"])
    assert {"200", "202", "401", "403", "413", "507"} <= set(put_op["responses"])
    assert put_op["security"] == [{"admin": []}]
    assert {p["name"] for p in put_op["parameters"]} == {"doc_id", "wait", "timeout"}
    post_op = spec["paths"]["/documents"]["post"]
    assert set(post_op["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    assert "401" in spec["paths"]["/tasks"]["get"]["responses"]  # reads are keyed when a search key is set
    assert {"Task", "TaskResponse", "TaskListResponse", "DocumentInput"} <= set(spec["components"]["schemas"])


def test_the_documented_input_is_what_the_loaders_validate() -> None:
    assert set(DocumentInputSchema().fields) == set(LoaderDocumentSchema().fields)


# -- searches during writes ----------------------------------------------------------------------------------
def test_every_thread_of_a_view_searches_the_same_commit(own_index_dir: Path) -> None:
    """A write commits while a view is open: a thread that opens its first searcher on that view must read the
    view's commit, not the newer one, or the view's per-document caches (date order, facet columns) would be
    read with document numbers they do not have (an IndexError, a 500)."""
    settings = load_settings(app_config(own_index_dir, refresh_interval=3600, cache_size=0), env={})
    service = SearchService(settings)
    request = SearchRequest(q="", sort="-published", facets=("published", "place"), limit=50)
    try:
        before = service.search(request)  # opens the view and fills its caches
        docs = [
            document_from_mapping({"id": f"new-{i}", "body": "Oslo news.", "published": f"2022-01-0{i + 1}"})
            for i in range(5)
        ]
        apply_changes(IndexStore(own_index_dir), docs, [], writes._get_extractor(MODEL), MODEL)
        results: list[Any] = []
        thread = threading.Thread(target=lambda: results.append(service.search(request)))
        thread.start()
        thread.join()
        assert [h.id for h in results[0].hits] == [h.id for h in before.hits]  # the same commit, no error
        service.refresh()
        after = service.search(request)
        assert after.total == before.total + 5 and after.hits[0].id.startswith("new-")
    finally:
        service.close()


def test_refresh_checks_at_once_on_a_freshly_booted_host(own_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The monotonic clock starts near 0 at boot: a refresh (after a ?wait=true write) must still read the new
    commit while the host's uptime is below refresh_interval."""
    uptime = [5.0]
    monkeypatch.setattr(search_module.time, "monotonic", lambda: uptime[0])
    settings = load_settings(app_config(own_index_dir, refresh_interval=3600, cache_size=0), env={})
    service = SearchService(settings)
    try:
        before = service.search(SearchRequest(q="oslo"))
        doc = document_from_mapping({"id": "booted", "body": "Oslo at boot.", "published": "2022-01-01"})
        apply_changes(IndexStore(own_index_dir), [doc], [], writes._get_extractor(MODEL), MODEL)
        uptime[0] = 6.0
        service.refresh()
        after = service.search(SearchRequest(q="oslo"))
        assert after.total == before.total + 1 and "booted" in {h.id for h in after.hits}
    finally:
        service.close()


def test_a_commit_landing_while_a_view_opens_is_seen_refresh_interval_after_it(
    own_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a view takes a while on a large index or a loaded host, and a commit landing meanwhile is not in
    it: the next look must still come refresh_interval after the commit, not that plus the opening (a worker
    answered a whole page stale in the concurrent-writes test)."""
    now = [100.0]
    monkeypatch.setattr(search_module.time, "monotonic", lambda: now[0])
    service = SearchService(load_settings(app_config(own_index_dir, refresh_interval=0.5, cache_size=0), env={}))
    store, extractor = IndexStore(own_index_dir), writes._get_extractor(MODEL)

    def commit(doc_id: str) -> None:
        doc = document_from_mapping({"id": doc_id, "body": "Oslo harbour.", "published": "2022-01-01"})
        apply_changes(store, [doc], [], extractor, MODEL)

    real_open = search_module._View.__init__

    def slow_open(view: Any, view_store: IndexStore) -> None:
        real_open(view, view_store)  # the view reads its commit
        commit("during")  # a commit lands while the opening goes on
        now[0] += 0.4  # the rest of the opening

    def found() -> set[str]:
        return {h.id for h in service.search(SearchRequest(q="oslo", limit=100)).hits}

    try:
        assert "first" not in found()
        commit("first")
        now[0] += 0.6
        monkeypatch.setattr(search_module._View, "__init__", slow_open)
        assert "first" in found() and "during" not in found()  # looked at 100.6; opened at 101.0
        monkeypatch.setattr(search_module._View, "__init__", real_open)
        now[0] = 100.6 + 0.5
        assert "during" in found()
    finally:
        service.close()


def test_entity_lists_are_kept_for_the_index_view_and_read_again_after_a_write(
    own_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty prefix reads every name of the type (about 0.2 s at 104k articles, on every request): a list is
    kept until the index changes, and each caller gets its own copy."""
    calls: list[str] = []
    real = search_module.merged_top

    def counted(reader: Any, kind: str, scan: Any, limit: int) -> Any:
        calls.append(kind)
        return real(reader, kind, scan, limit)

    monkeypatch.setattr(search_module, "merged_top", counted)
    service = SearchService(load_settings(app_config(own_index_dir), env={}))
    try:
        first = service.entities("place", "", 5)
        first[0]["name"] = "changed by a caller"
        assert service.entities("place", "", 5)[0]["name"] != "changed by a caller" and len(calls) == 1
        doc = document_from_mapping({"id": "reykjavik", "body": "Talks in Reykjavik.", "published": "2022-01-01"})
        apply_changes(IndexStore(own_index_dir), [doc], [], writes._get_extractor(MODEL), MODEL)
        service.entities("place", "", 5)
        assert len(calls) == 2
    finally:
        service.close()
