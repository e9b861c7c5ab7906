"""The error contract: one body shape, stable codes, and a table of hostile requests with their answers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from conftest import assert_error
from flask import Flask
from flask.testing import FlaskClient

from searchsvc.errors import (
    CODES,
    IndexUnavailableError,
    NotFoundError,
    ParameterError,
    QueryError,
    UnauthorizedError,
    UnknownParameterError,
    UnsupportedMediaTypeError,
    code_for_status,
    error_body,
)
from searchsvc.search import service as search_service


def test_error_body_shape() -> None:
    assert error_body("invalid_query", "bad", "q") == {
        "error": {"code": "invalid_query", "message": "bad", "field": "q", "request_id": None}
    }
    assert error_body("not_found", "gone", request_id="r1") == {
        "error": {"code": "not_found", "message": "gone", "field": None, "request_id": "r1"}
    }
    with pytest.raises(ValueError):
        error_body("oops", "unknown codes are a programming error")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"published_from": "2021-" + "x" * 100_000}, "published_from"),
        ({"facets": ["y" * 100_000]}, "facets"),
        ({"z" * 100_000: 1}, "z" * 199 + "…"),
    ],
    ids=["date", "facet", "parameter name"],
)
def test_an_error_quotes_a_huge_value_in_part(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    # Messages quote the value at fault: these were as large as the request (the parameter name twice).
    response = client.post("/search", json=body)
    error = assert_error(response, 400, response.get_json()["error"]["code"], field)
    assert len(error["message"]) <= 1000 and error["message"].endswith("…")
    assert len(response.get_data()) < 1500


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (QueryError("x"), 400, "invalid_query"),
        (ParameterError("x", "limit"), 400, "invalid_parameter"),
        (UnknownParameterError("x", "limt"), 400, "unknown_parameter"),
        (UnauthorizedError("x"), 401, "unauthorized"),
        (NotFoundError("x"), 404, "not_found"),
        (UnsupportedMediaTypeError("x"), 415, "unsupported_media_type"),
        (IndexUnavailableError("x"), 503, "index_unavailable"),
    ],
)
def test_error_types_carry_status_and_code(exc: Any, status: int, code: str) -> None:
    assert (exc.status, exc.code) == (status, code)


def test_statuses_map_to_codes() -> None:
    assert code_for_status(404) == "not_found"
    assert code_for_status(405) == "method_not_allowed"
    assert code_for_status(413) == "payload_too_large"
    assert code_for_status(502) == "internal"
    assert set(CODES) >= {"forbidden", "internal", "index_unavailable"}


TEN_KB = "lavrov " * 1500
DEEP = "(" * 40 + "belt" + ")" * 40

# (method, url, keyword arguments for the test client, status, code, field)
HOSTILE: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
    ("GET", "/search", {"query_string": {"q": '"'}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "AND"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "belt OR"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "NOT"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "*"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "b*"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "title:"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "foo:bar"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": DEEP}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "()"}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "? ) ("}}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": "belt\x01road"}}, 400, "invalid_query", "q"),
    ("GET", "/search?q=belt%00", {}, 400, "invalid_query", "q"),
    ("GET", "/search", {"query_string": {"q": TEN_KB}}, 400, "invalid_parameter", "q"),
    ("GET", "/search?limit=0", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/search?limit=101", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/search?limit=abc", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/search?limit=1.5", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/search?limit=1&limit=2", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/search?offset=-1", {}, 400, "invalid_parameter", "offset"),
    ("GET", "/search?offset=10001", {}, 400, "invalid_parameter", "offset"),
    ("GET", "/search?published_from=2021-13-45", {}, 400, "invalid_parameter", "published_from"),
    ("GET", "/search?mentioned_to=2021-02-30", {}, 400, "invalid_parameter", "mentioned_to"),
    ("GET", "/search?published_from=2022&published_to=2021", {}, 400, "invalid_parameter", "published_from"),
    ("GET", "/search?sort=random", {}, 400, "invalid_parameter", "sort"),
    ("GET", "/search?match=some", {}, 400, "invalid_parameter", "match"),
    ("GET", "/search?facets=person,colour", {}, 400, "invalid_parameter", "facets"),
    ("GET", "/search?facet_size=0", {}, 400, "invalid_parameter", "facet_size"),
    ("GET", "/search?highlight=maybe", {}, 400, "invalid_parameter", "highlight"),
    ("GET", "/search?person=%01", {}, 400, "invalid_parameter", "person"),
    ("GET", "/search?limt=5", {}, 400, "unknown_parameter", "limt"),
    ("GET", "/search?q=x&callback=alert", {}, 400, "unknown_parameter", "callback"),
    (
        "POST",
        "/search",
        {"data": "{not json", "content_type": "application/json"},
        400,
        "invalid_parameter",
        None,
    ),
    (
        "POST",
        "/search",
        {"data": "[1, 2]", "content_type": "application/json"},
        400,
        "invalid_parameter",
        None,
    ),
    (
        "POST",
        "/search",
        {"data": "q=belt", "content_type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "POST",
        "/search",
        {"data": '{"q": "belt"}', "content_type": "text/plain"},
        415,
        "unsupported_media_type",
        None,
    ),
    ("POST", "/search", {"data": '{"q": "belt"}'}, 415, "unsupported_media_type", None),
    (
        "POST",
        "/search",
        {"data": '{"q": "belt"}', "content_type": "application/json", "headers": {"Content-Encoding": "br"}},
        415,
        "unsupported_media_type",
        None,
    ),
    ("POST", "/search", {"json": {"q": "belt", "limt": 5}}, 400, "unknown_parameter", "limt"),
    ("POST", "/search", {"json": {"limit": True}}, 400, "invalid_parameter", "limit"),
    ("POST", "/search", {"json": {"limit": 2.5}}, 400, "invalid_parameter", "limit"),
    ("POST", "/search", {"json": {"person": [1]}}, 400, "invalid_parameter", "person"),
    ("POST", "/search", {"json": {"q": ["belt"]}}, 400, "invalid_parameter", "q"),
    ("POST", "/search", {"json": {"q": "AND"}}, 400, "invalid_query", "q"),
    ("POST", "/search?limit=5", {"json": {"q": "belt"}}, 400, "unknown_parameter", "limit"),
    ("GET", "/entities?type=animal", {}, 400, "invalid_parameter", "type"),
    ("GET", "/entities", {}, 400, "invalid_parameter", "type"),
    ("GET", "/documents/x?foo=1", {}, 400, "unknown_parameter", "foo"),
    ("GET", "/documents/x/similar?limit=0", {}, 400, "invalid_parameter", "limit"),
    ("GET", "/stats?verbose=1", {}, 400, "unknown_parameter", "verbose"),
    ("GET", "/no/such/route", {}, 404, "not_found", None),
    ("PUT", "/search", {}, 405, "method_not_allowed", None),
    ("PATCH", "/documents/x", {}, 405, "method_not_allowed", None),
    ("DELETE", "/documents/x", {}, 403, "forbidden", None),  # writes are off without an admin key
]


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code", "field"),
    HOSTILE,
    ids=[f"{m} {u} {str(k)[:40]}" for m, u, k, *_ in HOSTILE],
)
def test_hostile_requests(
    client: FlaskClient,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    assert_error(client.open(url, method=method, **kwargs), status, code, field)


@pytest.mark.parametrize(
    ("pasted", "meant"),
    [('belt "and road', "belt and road"), ("(belt", "belt"), ("belt) road", "belt road"), ("harbour?", "harbour")],
)
def test_pasted_text_is_searched_not_rejected(client: FlaskClient, pasted: str, meant: str) -> None:
    # An unmatched quote or parenthesis, or a `?` ending a word, is punctuation (query.py), as in Elasticsearch's
    # simple_query_string: no 400 for text pasted into a search box.
    got = client.get("/search", query_string={"q": pasted})
    assert got.status_code == 200, got.get_data(as_text=True)
    want = client.get("/search", query_string={"q": meant}).get_json()
    assert [h["id"] for h in got.get_json()["hits"]] == [h["id"] for h in want["hits"]] != []


def test_payload_too_large(make_app: Any) -> None:
    client = make_app(max_body_bytes=1000).test_client()
    response = client.post("/search", data='{"q": "' + "x" * 2000 + '"}', content_type="application/json")
    assert_error(response, 413, "payload_too_large")


class BrokenChunks:
    """A server's input stream for a chunked body with broken framing: it raises its own parse error, as gunicorn's
    raises InvalidChunkSize for a chunk size that is not hex (tests/test_writes_gunicorn.py sends one for real)."""

    def read(self, *args: Any) -> bytes:
        raise RuntimeError("Invalid chunk size: b'ZZ'")

    readline = read


CHUNKED = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}


@pytest.mark.parametrize(("url", "mimetype"), [("/search", "application/json"), ("/key", "text/html")])
def test_a_body_with_broken_chunked_framing_is_a_400_not_a_500(client: FlaskClient, url: str, mimetype: str) -> None:
    kind = "application/json" if url == "/search" else "application/x-www-form-urlencoded"
    environ = {**CHUNKED, "wsgi.input": BrokenChunks(), "CONTENT_TYPE": kind}
    response = client.post(url, environ_overrides=environ)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == mimetype
    if mimetype == "application/json":
        assert_error(response, 400, "invalid_parameter")
        assert "malformed" in response.get_json()["error"]["message"]


def test_unexpected_errors_are_a_generic_json_500(make_app: Any, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(search_key="s3cret")

    def explode() -> None:
        raise RuntimeError("secret internals s3cret")

    app.add_url_rule("/explode", "explode", explode)
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="searchsvc"):
        response = client.get("/explode?token=abc", headers={"Authorization": "Bearer s3cret"})
    error = assert_error(response, 500, "internal")
    assert "secret internals" not in error["message"] and "RuntimeError" not in error["message"]
    logged = [r for r in caplog.records if r.name == "searchsvc"]
    assert logged and logged[0].exc_info is not None  # the traceback is in the server log
    assert all("s3cret" not in r.getMessage() and "token=abc" not in r.getMessage() for r in logged)


def test_a_failure_in_the_middle_of_a_search_is_a_json_500_and_frees_the_index(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The request is past its parameters, its query and its matching, with the index view pinned, when reading a
    hit's text fails (as a segment file vanishing would): one JSON 500, no internals, and the view is released, so
    the next request is served."""
    client = app.test_client()
    service = app.extensions["searchsvc"].service

    def vanished(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "/srv/index/gen-3/_MAIN_9.seg")

    monkeypatch.setattr(search_service, "highlight_body", vanished)
    with caplog.at_level(logging.ERROR, logger="searchsvc"):
        response = client.get("/search?q=harbour")
    error = assert_error(response, 500, "internal")
    for leak in ("/srv", "_MAIN", "FileNotFoundError", "No such file", "Traceback"):
        assert leak not in response.get_data(as_text=True), leak
    assert any(r.exc_info is not None and r.exc_info[0] is FileNotFoundError for r in caplog.records), caplog.text
    assert error["message"] == "internal error; it was logged on the server"
    view = service._view
    assert view is not None and view.refs == 0  # the request's pin on the view was released
    monkeypatch.undo()
    assert client.get("/search?q=harbour").status_code == 200
