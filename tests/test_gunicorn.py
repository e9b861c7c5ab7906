"""The real thing: gunicorn with searchsvc/gunicorn_conf.py serving searchsvc.wsgi:app over HTTP, including an
index rebuilt and swapped in under the running server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SEED_ID, assert_error, assert_security_headers, build_index, write_corpus
from servers import Server, run_gunicorn, wait_for_refresh


@pytest.fixture
def server(own_index_dir: Path, tmp_path: Path) -> Iterator[Server]:
    with run_gunicorn(own_index_dir, tmp_path / "gunicorn.log") as srv:
        yield srv


def test_serves_searches_errors_and_readiness(server: Server) -> None:
    response = server.get("/search", params={"q": '"Belt and Road"'})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert_security_headers(response)
    data = response.json()
    assert [h["id"] for h in data["hits"]] == [SEED_ID]
    assert "<mark>Belt and Road</mark>" in " ".join(data["hits"][0]["highlights"]["body"])

    assert_error(server.get("/documents/no-such-doc"), 404, "not_found", "doc_id")
    assert_error(server.get("/nope"), 404, "not_found")

    ready = server.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}

    bad = server.get("/search", params={"q": "title:"})
    assert_error(bad, 400, "invalid_query", "q")


def test_answers_from_a_rebuilt_index_without_a_restart(server: Server, own_index_dir: Path, tmp_path: Path) -> None:
    assert server.get("/search", params={"q": "okapi"}).json()["total"] == 0
    corpus = write_corpus(
        tmp_path / "rebuilt",
        extra=[
            {"id": "okapi", "title": "Okapi sighted", "body": "An okapi was seen in the Ituri forest."},
        ],
    )
    build_index(corpus, own_index_dir)
    built = time.time()
    # refresh_interval is 0.2 s (servers.py); the deadline is for a loaded machine, not a promise of speed.
    deadline = time.monotonic() + 60
    streak = 0
    while streak < 6:  # several answers in a row, so every worker has switched
        assert time.monotonic() < deadline, "the server still answers from the old index"
        hits = [h["id"] for h in server.get("/search", params={"q": "okapi"}).json()["hits"]]
        streak = streak + 1 if hits == ["okapi"] else 0
        time.sleep(0.02)
    wait_for_refresh(built)
    assert server.get("/stats").json()["documents"] == 9
