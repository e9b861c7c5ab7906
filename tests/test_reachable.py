"""Issue 15, item 11: every stored document can be read and deleted through the URL of its id, and what
search-key holders and anonymous callers see holds no server paths, raw exception text or index details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import assert_error
from flask.testing import FlaskClient

from searchsvc.api import write_routes as api_writes
from searchsvc.documents import DocumentError, LoadError, document_from_mapping, iter_documents
from searchsvc.writes.applier import public_report

KEY = "admin-reachable-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}

# (id, accepted): ids no GET /documents/<id> can reach are refused wherever a document comes from.
IDS: list[tuple[str, bool]] = [
    ("a/similar", False),  # GET /documents/a/similar is the similar-documents route of "a"
    ("reports/x/similar", False),
    ("/lead", False),  # the router cannot match /documents//lead
    ("a/../b", True),  # reached as /documents/a/%2E%2E/b
    ("similar", True),
    ("a/similarity", True),
    ("a/similar/b", True),
    ("reports/2021/03/nato", True),
    ("a/", True),
    ("v1.2", True),
]


@pytest.mark.parametrize(("doc_id", "accepted"), IDS, ids=[i for i, _ in IDS])
def test_the_id_rule_is_the_one_of_the_urls(doc_id: str, accepted: bool) -> None:
    if accepted:
        assert document_from_mapping({"id": doc_id, "body": "x"}).id == doc_id
    else:
        with pytest.raises(DocumentError) as caught:
            document_from_mapping({"id": doc_id, "body": "x"})
        assert "id" in caught.value.messages


@pytest.fixture
def idle_client(make_app: Any, own_index_dir: Path) -> FlaskClient:
    """Writes enabled but no writer thread: tasks are accepted and stay enqueued."""
    app = make_app(own_index_dir, admin_key=KEY)
    api_writes.shutdown(app)
    return app.test_client()


def test_put_refuses_an_id_that_get_would_route_elsewhere(idle_client: FlaskClient) -> None:
    error = assert_error(
        idle_client.put("/documents/a/similar", json={"body": "x"}, headers=AUTH), 400, "invalid_parameter", "id"
    )
    assert "/similar" in error["message"]
    assert idle_client.put("/documents/a/similarity", json={"body": "x"}, headers=AUTH).status_code == 202


def test_post_rejects_unreachable_ids_by_themselves(idle_client: FlaskClient) -> None:
    batch = [{"id": "/lead", "body": "x"}, {"id": "b/similar", "body": "x"}, {"id": "fine", "body": "x"}]
    response = idle_client.post("/documents", json=batch, headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["task"]["details"] == {"received": 3, "accepted": 1, "rejected": 2}


def test_a_file_whose_id_would_be_unreachable_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "similar.txt").write_text("Shadowed by the similar route.", encoding="utf-8")
    (tmp_path / "a" / "other.txt").write_text("Reachable.", encoding="utf-8")
    items = [item for _, item in iter_documents([tmp_path], root=tmp_path)]
    assert [i.id for i in items if not isinstance(i, LoadError)] == ["a/other"]
    assert [e.reason for e in items if isinstance(e, LoadError)][0].startswith("id: must not end with")


def test_reindex_reports_show_paths_relative_to_the_source(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    report = {
        "indexed": 1,
        "failures": [
            {"name": f"{root}/bad.json", "reason": "invalid JSON"},
            {"name": f"{root.resolve()}/b/dup.txt", "reason": f"duplicate id 'x' (first loaded from {root}/a.txt)"},
        ],
        "warnings": [{"name": f"{root}/w.txt", "reason": "invalid UTF-8"}],
    }
    shown = public_report(report, [root])
    assert str(tmp_path) not in str(shown)
    assert shown["failures"] == [
        {"name": "bad.json", "reason": "invalid JSON"},
        {"name": "b/dup.txt", "reason": "duplicate id 'x' (first loaded from a.txt)"},
    ]
    assert shown["indexed"] == 1 and shown["warnings"] == [{"name": "w.txt", "reason": "invalid UTF-8"}]


def test_a_failed_reindex_does_not_show_the_server_path(make_app: Any, own_index_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "secret-place" / "missing"
    client = make_app(own_index_dir, admin_key=KEY, sources=str(missing)).test_client()
    response = client.post("/reindex?wait=true&timeout=30", headers=AUTH)
    task = response.get_json()["task"]
    assert task["status"] == "failed" and "SEARCHSVC_SOURCES" in task["error"]
    assert "secret-place" not in task["error"] and str(tmp_path) not in task["error"]


def test_ready_says_ready_and_nothing_else(client: FlaskClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}
