"""Security properties of the read API: escaped snippets, security headers everywhere, CORS only when configured,
opaque document ids, no internals in error bodies, and the search key."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_error, assert_security_headers, build_index
from flask.testing import FlaskClient

from searchsvc.search.service import SearchService

XSS_DOCS = [
    {
        "id": "xss-1",
        "title": "Alert <script>alert(1)</script> in the headline",
        "body": "Harbour news. An attacker wrote <script>alert(1)</script> and <img src=x onerror=alert(2)> "
        "into the harbour report, then left the harbour.",
        "published": "2021-05-01",
    },
    {"id": "plain", "title": "Quiet harbour", "body": "Nothing happened at the harbour.", "published": "2021-05-02"},
]


@pytest.fixture(scope="module")
def xss_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("xss-corpus")
    for doc in XSS_DOCS:
        (corpus / f"{doc['id']}.json").write_text(json.dumps(doc), encoding="utf-8")
    index = tmp_path_factory.mktemp("xss-index")
    build_index(corpus, index)
    return index


@pytest.mark.parametrize("q", ["script", "alert", "harbour", "title:script", "onerror"])
def test_html_in_documents_is_escaped_in_snippets(make_app: Any, xss_index: Path, q: str) -> None:
    response = make_app(xss_index).test_client().get("/search", query_string={"q": q})
    assert response.status_code == 200, response.get_data(as_text=True)
    hits = {h["id"]: h for h in response.get_json()["hits"]}
    assert "xss-1" in hits
    snippets = hits["xss-1"]["highlights"]["title"] + hits["xss-1"]["highlights"]["body"]
    text = " ".join(snippets)
    assert "&lt;script&gt;" in text or "&lt;<mark>script</mark>&gt;" in text
    assert "<script" not in text and "<img" not in text
    assert all(tag in {"mark", "/mark"} for tag in _tags(text)), text


def _tags(text: str) -> list[str]:
    """The names of the HTML tags in `text`."""
    out = []
    for part in text.split("<")[1:]:
        out.append(part.split(">")[0].split()[0] if part.split(">")[0].split() else "")
    return out


# -- headers -------------------------------------------------------------------------------------------------
def _requests(client: FlaskClient) -> Iterator[tuple[str, Any]]:
    yield "200 search", client.get("/search?q=harbour")
    yield "200 health", client.get("/health")
    yield "200 openapi", client.get("/openapi.json")
    yield "200 document", client.get("/documents/storm-lisbon")
    yield "400 query", client.get("/search?q=AND")
    yield "400 unknown", client.get("/search?limt=1")
    yield "404 route", client.get("/nowhere")
    yield "404 document", client.get("/documents/../../etc/passwd")
    yield "405", client.put("/search")
    yield "415", client.post("/search", data="q=x", content_type="text/plain")
    yield "options", client.options("/search")


def test_security_headers_on_every_response(client: FlaskClient) -> None:
    seen = set()
    for name, response in _requests(client):
        seen.add(response.status_code)
        assert_security_headers(response)
        assert "Access-Control-Allow-Origin" not in response.headers, name
    assert {200, 400, 404, 405, 415} <= seen


def test_security_headers_on_401_500_and_503(make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    responses = [make_app(search_key="k").test_client().get("/search"), make_app(tmp_path).test_client().get("/ready")]
    monkeypatch.setattr(SearchService, "stats", _explode)
    responses.append(make_app().test_client().get("/stats"))
    assert [r.status_code for r in responses] == [401, 503, 500]
    for response in responses:
        assert_security_headers(response)


def test_no_cors_headers_unless_configured(client: FlaskClient) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    for response in (
        client.get("/search?q=harbour", headers=headers),
        client.options("/search", headers=headers),
        client.get("/nowhere", headers=headers),
    ):
        assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")], response.headers


def test_cors_for_allowed_origins_only(make_app: Any) -> None:
    client = make_app(cors_origins="https://a.example, https://b.example").test_client()
    for origin in ("https://a.example", "https://b.example"):
        for response in (
            client.get("/search?q=harbour", headers={"Origin": origin}),
            client.get("/search?q=AND", headers={"Origin": origin}),
        ):
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "Origin" in response.headers["Vary"]
    for origin in ("https://evil.example", "https://a.example.evil.example", "null", "https://A.example"):
        response = client.get("/search?q=harbour", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers, origin


def test_cors_preflight_names_the_methods_and_headers(make_app: Any) -> None:
    client = make_app(cors_origins="https://news.example").test_client()
    preflight = client.options(
        "/search", headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://news.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = client.options(
        "/search", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert not [h for h in other.headers.keys() if h.lower().startswith("access-control-")], other.headers


# -- document ids are opaque ---------------------------------------------------------------------------------
@pytest.fixture
def opened_files() -> Iterator[list[str]]:
    """Paths the process opens while the fixture is active (an audit hook sees every open, os.open included)."""
    opened: list[str] = []
    state = {"on": True}

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if state["on"] and event == "open" and args and isinstance(args[0], str | bytes):
            opened.append(str(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed; this one goes quiet when the fixture ends
    yield opened
    state["on"] = False


TRAVERSALS = [
    "/documents/../../etc/passwd",
    "/documents/..%2F..%2F..%2Fetc%2Fpasswd",
    "/documents/%2e%2e/%2e%2e/etc/passwd",
    "/documents//etc/passwd",
    "/documents/etc/passwd%00.json",
    "/documents/..%5C..%5Cetc%5Cpasswd",
    "/documents/searchsvc.json",
    "/documents/../../etc/passwd/similar",
]


def test_document_ids_are_opaque(client: FlaskClient, opened_files: list[str]) -> None:
    client.get("/documents/storm-lisbon")  # open the index first, so only the traversals' opens remain
    opened_files.clear()
    for url in TRAVERSALS:
        response = client.get(url)
        assert response.status_code in (400, 404), (url, response.status_code)
        assert response.mimetype == "application/json"
        error = response.get_json()["error"]
        assert error["code"] in ("not_found", "invalid_parameter")
        assert "root:" not in response.get_data(as_text=True)
    assert not [p for p in opened_files if "passwd" in p], opened_files


def test_doubled_slashes_in_ids_are_not_redirected(client: FlaskClient) -> None:
    # Werkzeug would merge the slashes with an HTML 308; an id is opaque, so it is looked up as given.
    assert_error(client.get("/documents//etc/passwd"), 404, "not_found")  # no route: an id cannot start with /
    for url in ("/documents/reports//2021/03/nato", "/documents/a//b/similar"):
        assert_error(client.get(url), 404, "not_found", "doc_id")


# -- nothing internal in error bodies ------------------------------------------------------------------------
def _explode(*args: Any, **kwargs: Any) -> Any:
    raise OSError(2, "No such file or directory: '/srv/index/gen-1/_MAIN_7.toc' (key s3cret)")


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("search", "/search?q=harbour", {}),
        ("search", "/search", {"method": "POST", "json": {"q": "harbour"}}),
        ("get_document", "/documents/storm-lisbon", {}),
        ("similar", "/documents/storm-lisbon/similar", {}),
        ("entities", "/entities?type=person", {}),
        ("ready", "/ready", {}),
    ],
)
def test_internal_errors_reveal_nothing(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    monkeypatch.setattr(SearchService, method, _explode)
    client = make_app(search_key="s3cret").test_client()
    response = client.open(url, headers={"Authorization": "Bearer s3cret"}, **kwargs)
    error = assert_error(response, 500, "internal")
    assert error["message"] == "internal error; it was logged on the server"
    text = response.get_data(as_text=True)
    for leak in ("/srv", "_MAIN", "s3cret", "OSError", "Errno", "No such file", "Traceback", 'File "'):
        assert leak not in text, leak


def test_unavailable_index_reveals_no_path(make_app: Any, tmp_path: Path) -> None:
    secret_dir = tmp_path / "private-index-location"
    secret_dir.mkdir()
    (secret_dir / "_MAIN_1.toc").write_bytes(b"foreign")
    client = make_app(secret_dir).test_client()
    for url in ("/ready", "/search?q=x", "/documents/x", "/stats"):
        response = client.get(url)
        assert_error(response, 503, "index_unavailable")
        assert "private-index-location" not in response.get_data(as_text=True)
        assert str(tmp_path) not in response.get_data(as_text=True)


# -- the search key ------------------------------------------------------------------------------------------
READ_URLS = [
    "/search?q=harbour",
    "/documents/storm-lisbon",
    "/documents/storm-lisbon/similar",
    "/entities?type=place",
    "/stats",
    "/metrics",
    "/openapi.json",
]


def test_search_key_guards_every_read_endpoint(make_app: Any) -> None:
    client = make_app(search_key="s3cret-key").test_client()
    wrong = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "s3cret-key"},
        {"Authorization": "Basic s3cret-key"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer s3cret-key-and-more"},
        {"Authorization": "Bearer s3cret-ke"},
    ]
    for url in READ_URLS:
        for headers in wrong:
            response = client.get(url, headers=headers)
            assert_error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "s3cret" not in response.get_data(as_text=True)
        assert client.get(url, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200, url
        assert client.get(url, headers={"Authorization": "bearer s3cret-key"}).status_code == 200, url
    assert client.post("/search", json={"q": "x"}).status_code == 401
    assert client.post("/search", json={"q": "x"}, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200


def test_the_admin_key_opens_every_read_the_search_key_opens(make_app: Any, own_index_dir: Path) -> None:
    """One policy for both blueprints: with both keys set, the admin key reads everything (issue: /search
    answered 401 to the admin key while /tasks answered 200). On a copy of the index: an app with an admin key
    starts a task writer, whose task database must not land in the session's index."""
    client = make_app(own_index_dir, search_key="search-key", admin_key="admin-key").test_client()
    admin = {"Authorization": "Bearer admin-key"}
    for url in [*READ_URLS, "/tasks"]:
        assert client.get(url, headers=admin).status_code == 200, url
        assert_error(client.get(url), 401, "unauthorized")
    assert client.post("/search", json={"q": "x"}, headers=admin).status_code == 200
    # ... and the search key opens no write.
    response = client.put("/documents/x", json={"body": "x"}, headers={"Authorization": "Bearer search-key"})
    assert_error(response, 401, "unauthorized")
