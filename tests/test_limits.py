"""Issue #8's limits: each is a setting, and going past it is a clear 4xx in the one error shape; a search past
`query_timeout` answers 200 with what it found, flagged `timed_out`, and the worker answers normally after it."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import app_config, assert_error
from flask import Flask
from marshmallow import fields
from servers import Server, run_gunicorn
from whoosh.filedb.filestore import RamStorage

from searchsvc.api import write_routes as api_writes
from searchsvc.app import create_app
from searchsvc.config import load_settings
from searchsvc.documents import document_from_mapping
from searchsvc.errors import QueryError
from searchsvc.extract.types import Entity, Extraction
from searchsvc.index import postings
from searchsvc.index.schema import build_schema, document_fields
from searchsvc.index.store import IndexStore
from searchsvc.search import docsets
from searchsvc.search.expansion import expand_query
from searchsvc.search.query import QueryBuilder
from searchsvc.search.requests import FACETS

KEY = "admin-limits-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
NDJSON = "application/x-ndjson"
SMALL = {
    "max_query_length": 20,
    "max_expansion": 3,
    "max_offset": 50,
    "max_limit": 5,
    "max_body_bytes": 3000,
    "max_batch": 3,
    "max_document_bytes": 1000,
    "max_filter_values": 3,
}


def docs(n: int) -> list[dict[str, Any]]:
    return [{"id": f"n{i}", "body": "x"} for i in range(n)]


def padded(n: int) -> dict[str, Any]:
    """A valid POST /search body of about n bytes (JSON allows any whitespace)."""
    return {"data": '{"q": "harbour", "limit": 5' + " " * n + "}", "content_type": "application/json"}


# (setting, method, url, keyword arguments, status, code, field): past each limit of SMALL, then at it.
PAST: list[tuple[str, str, str, dict[str, Any], int, str, str | None]] = [
    ("max_query_length", "GET", "/search", {"query_string": {"q": "h" * 21}}, 400, "invalid_parameter", "q"),
    ("max_query_length", "POST", "/search", {"json": {"q": "h" * 21}}, 400, "invalid_parameter", "q"),
    ("max_expansion", "GET", "/search?q=th*", {}, 400, "invalid_query", "q"),
    ("max_expansion", "GET", "/search?q=t*", {}, 400, "invalid_query", "q"),  # too short a prefix at any size
    ("max_offset", "GET", "/search?offset=51", {}, 400, "invalid_parameter", "offset"),
    ("max_limit", "GET", "/search?limit=6", {}, 400, "invalid_parameter", "limit"),
    ("max_body_bytes", "POST", "/search", padded(3000), 413, "payload_too_large", None),
    (
        "max_body_bytes",
        "POST",
        "/documents",
        {"json": [{"id": "a", "body": "y" * 3000}]},
        413,
        "payload_too_large",
        None,
    ),
    ("max_batch", "POST", "/documents", {"json": docs(4)}, 413, "payload_too_large", None),
    (
        "max_batch",
        "POST",
        "/documents",
        {"data": '{"id": "n", "body": "x"}\n' * 4, "content_type": NDJSON},
        413,
        "payload_too_large",
        None,
    ),
    ("max_document_bytes", "PUT", "/documents/a", {"json": {"body": "z" * 1001}}, 400, "invalid_parameter", "body"),
    ("max_filter_values", "POST", "/search", {"json": {"person": ["a"] * 4}}, 400, "invalid_parameter", "person"),
    ("max_filter_values", "GET", "/search?place=a&place=b&place=c&place=d", {}, 400, "invalid_parameter", "place"),
    (
        "max_filter_values",
        "POST",
        "/search",
        {"json": {"person": ["a", "b"], "org": ["c"], "place": ["d"]}},
        400,
        "invalid_parameter",
        "place",
    ),
]
BATCH_OF_3 = {"kind": "documents", "status": "enqueued", "details": {"received": 3, "accepted": 3, "rejected": 0}}
ONE_DOCUMENT = {"kind": "documents", "status": "enqueued", "details": {"id": "a"}}
# (setting, method, url, keyword arguments, status, what the answer says: see test_at_a_limit_is_accepted). The
# searches name `limit`: without it a search gets the default (10), past a max_limit of 5 (see the xfail below).
AT: list[tuple[str, str, str, dict[str, Any], int, dict[str, Any]]] = [
    (
        "max_query_length",
        "GET",
        "/search",
        {"query_string": {"q": "harbour ferry timing", "limit": 5}},
        200,
        {"limit": 5, "offset": 0, "total": 4, "hits": 4},
    ),
    ("max_expansion", "GET", "/search?q=harb*&limit=5", {}, 200, {"limit": 5, "offset": 0, "total": 3, "hits": 3}),
    ("max_offset", "GET", "/search?offset=50&limit=5", {}, 200, {"limit": 5, "offset": 50, "total": 8, "hits": 0}),
    ("max_limit", "GET", "/search?limit=5", {}, 200, {"limit": 5, "offset": 0, "total": 8, "hits": 5}),
    ("max_body_bytes", "POST", "/search", padded(2900), 200, {"limit": 5, "offset": 0, "total": 3, "hits": 3}),
    ("max_batch", "POST", "/documents", {"json": docs(3)}, 202, BATCH_OF_3),
    ("max_document_bytes", "PUT", "/documents/a", {"json": {"body": "z" * 1000}}, 202, ONE_DOCUMENT),
    (
        "max_filter_values",
        "POST",
        "/search",
        {"json": {"person": ["a", "b"], "org": ["c"], "limit": 5}},
        200,
        {"limit": 5, "offset": 0, "total": 0, "hits": 0},
    ),
]


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, index_dir: Path) -> Iterator[Flask]:
    """The test corpus with SMALL limits and writes on (no writer thread: accepted tasks just wait)."""
    target = tmp_path_factory.mktemp("limited") / "index"
    shutil.copytree(index_dir, target)
    app = create_app(app_config(target, admin_key=KEY, **SMALL))
    api_writes.shutdown(app)
    yield app
    api_writes.shutdown(app)


def test_every_limit_is_a_setting_with_a_default() -> None:
    defaults = load_settings(env={})
    assert {name: getattr(defaults, name) for name in SMALL} == {
        "max_query_length": 2000,
        "max_expansion": 1024,
        "max_offset": 10_000,
        "max_limit": 100,
        "max_body_bytes": 20_000_000,
        "max_batch": 10_000,
        "max_document_bytes": 2_000_000,
        "max_filter_values": 100,
    }
    assert {setting for setting, *_ in PAST} == set(SMALL) == {setting for setting, *_ in AT}


@pytest.mark.parametrize(
    ("setting", "method", "url", "kwargs", "status", "code", "field"), PAST, ids=[f"{p[0]}-{p[1]}" for p in PAST]
)
def test_past_a_limit_is_a_clear_4xx(
    limited: Flask,
    setting: str,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = limited.test_client().open(url, method=method, headers=AUTH, **kwargs)
    error = assert_error(response, status, code, field)
    if setting != "max_body_bytes" and "t*" not in url:  # Werkzeug's 413 does not know the setting's value
        assert str(SMALL[setting]) in error["message"]


@pytest.mark.parametrize(
    ("setting", "method", "url", "kwargs", "status", "expected"), AT, ids=[f"{a[0]}-{a[1]}" for a in AT]
)
def test_at_a_limit_is_accepted(
    limited: Flask,
    setting: str,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    expected: dict[str, Any],
) -> None:
    response = limited.test_client().open(url, method=method, headers=AUTH, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    if "hits" in body:  # a search: the limit and offset echoed, at most `limit` hits, the slice `offset` names
        got = {"limit": body["limit"], "offset": body["offset"], "total": body["total"], "hits": len(body["hits"])}
        assert len(body["hits"]) <= body["limit"] <= SMALL["max_limit"]
    else:  # a write: the task that holds it
        task = body["task"]
        got = {"kind": task["kind"], "status": task["status"], "details": task["details"]}
    assert got == expected, body


def test_a_search_without_a_limit_gets_no_more_than_max_limit_hits(limited: Flask) -> None:
    body = limited.test_client().get("/search").get_json()
    assert body["total"] == 8
    assert body["limit"] <= SMALL["max_limit"] and len(body["hits"]) <= SMALL["max_limit"], body["limit"]


def test_an_oversized_document_in_a_batch_is_rejected_by_itself(limited: Flask) -> None:
    batch = [{"id": "ok", "body": "fine"}, {"id": "big", "body": "z" * 1001}]
    response = limited.test_client().post("/documents", json=batch, headers=AUTH)
    assert response.status_code == 202
    assert response.get_json()["task"]["details"] == {"received": 2, "accepted": 1, "rejected": 1}


class CountingReader:
    """A reader that counts the lexicon steps of prefix and pattern expansion."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.steps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)

    def _count(self, terms: Iterator[Any]) -> Iterator[Any]:
        for term in terms:
            self.steps += 1
            yield term

    def expand_prefix(self, fieldname: str, prefix: Any) -> Iterator[Any]:
        return self._count(self.reader.expand_prefix(fieldname, prefix))


@pytest.mark.parametrize(
    ("facets", "status"),
    [
        (["person"] * 200_000, 200),
        ([",".join(["place"] * 200_000)], 200),
        ([f"f{i}" for i in range(200_000)], 400),
    ],
    ids=["repeated", "comma-separated", "distinct"],
)
def test_a_body_of_many_facet_names_is_not_validated_name_by_name(
    client: Any, monkeypatch: pytest.MonkeyPatch, facets: list[str], status: int
) -> None:
    """Facet names had no cap: a POST body of a million took 1.6 s to validate (3.1 s when unknown), before any
    search and outside its time bound. Repeats are folded first; more distinct names than facets is a 400."""
    validated = 0
    string_deserialize = fields.String._deserialize

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal validated
        validated += 1
        return string_deserialize(self, *args, **kwargs)

    monkeypatch.setattr(fields.String, "_deserialize", counting)
    response = client.post("/search", json={"q": "harbour", "facets": facets})
    if status == 400:
        assert_error(response, 400, "invalid_parameter", "facets")
    else:
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert set(response.get_json()["facets"]) == {facets[0].split(",")[0]}
    assert validated <= len(FACETS) + 2  # q and the names, not one per name sent


def test_a_broad_prefix_over_a_large_lexicon_stops_counting_at_the_limit() -> None:
    # `ta*` over 30,000 words starting with "ta": rejected after max_expansion + 1 lexicon steps, not 30,000.
    schema = build_schema()
    ix = RamStorage().create_index(schema)
    with ix.writer() as writer:
        writer.add_document(id="big", text=" ".join(f"ta{i:05d}" for i in range(30_000)))
    builder = QueryBuilder(schema)
    with ix.searcher() as searcher:
        q, _ = builder.parse("body:ta*")
        reader = CountingReader(searcher.reader())
        with pytest.raises(QueryError) as caught:
            expand_query(q, reader, max_terms=1024, max_visits=50_000)
        assert "more than 1024 terms" in caught.value.message and caught.value.field == "q"
        assert reader.steps == 1025
        q, _ = builder.parse("body:ta0000*")
        expand_query(q, searcher.reader(), max_terms=1024, max_visits=50_000)  # ten terms


# -- the time bound ------------------------------------------------------------------------------------------
BIG_DOCS = 2600  # more than twice docsets.DEADLINE_EVERY: every broad search below passes a clock check
BIG_SEGMENT = 900  # documents a segment: a broad search's clock check comes after the second of three
MICROSECOND = 0.000001  # query_timeout: every clock check finds the time up


def build_big_index(index_dir: Path, n: int = BIG_DOCS) -> None:
    """n short documents that all say "common news", half of them naming Ann Lee, published on 2,000 days
    (without spaCy: an empty extraction but for the person, so it builds in a few seconds)."""
    store = IndexStore(index_dir)
    ix, generation = store.create_generation()
    writer = ix.writer(limitmb=128)
    first = dt.date(2015, 1, 1)
    for i in range(n):
        if i and i % BIG_SEGMENT == 0:  # segments: the search kernel reads the clock between them
            writer.commit(merge=False)
            writer = ix.writer(limitmb=128)
        doc = document_from_mapping(
            {
                "id": f"d{i}",
                "title": f"Common report {i % 97}",
                "body": f"common news w{i % 300} " * (1 + i % 3),
                "published": (first + dt.timedelta(days=i % 2000)).isoformat(),
            }
        )
        person = Entity("Ann Lee" if i % 2 else "Bo Chan", "person", 1)
        writer.add_document(**document_fields(doc, Extraction(entities=(person,)), path="", content_hash=""))
    writer.commit(merge=False)
    # As every commit of the indexer: the kernel answers from the first search (without its files, the Whoosh
    # path answers while they are built in the background, and it finishes these searches before a clock check).
    postings.write_missing(ix.storage, ix.indexname)
    store.publish(generation)


@pytest.fixture(scope="module")
def big_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "index"
    build_big_index(path)
    return path


# Above the index's size, so broad searches are counted to the end: counting is where the clock is read.
COUNT_ALL = 10_000
BROAD: list[dict[str, str]] = [
    {"q": "common"},
    {"q": "common news"},
    {"q": "common", "person": "Ann Lee"},
    {"q": "common", "published_from": "2016"},
    {"q": '"common news"', "published_from": "2016"},
    {"q": "common", "facets": "person"},
    {"published_from": "2016"},  # no q: newest first
]


def test_whooshs_phrase_matches_are_each_followed_by_a_clock_check(make_app: Any, big_index: Path) -> None:
    """Without the kernel (off, or its files still building), Whoosh checks the positions of every candidate
    before a phrase's next match: the DEADLINE_EVERY matches between clock checks took 1.3 s past a bound of 1 s
    (60 phrases over 21k articles). After each positional match the clock is read."""
    client = make_app(big_index, query_timeout=MICROSECOND, count_bound=COUNT_ALL, search_kernel=False).test_client()
    data = client.get("/search", query_string={"q": '"common report"'}).get_json()
    assert data["timed_out"] and data["total_relation"] == "gte"
    assert 1 <= data["total"] < docsets.DEADLINE_EVERY, data["total"]


@pytest.mark.parametrize("params", BROAD, ids=[str(p) for p in BROAD])
def test_a_search_past_query_timeout_answers_what_it_found(
    make_app: Any, big_index: Path, params: dict[str, str]
) -> None:
    client = make_app(big_index, query_timeout=MICROSECOND, count_bound=COUNT_ALL).test_client()
    response = client.get("/search", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["timed_out"] is True
    assert data["total_relation"] == "gte" and data["total"] < BIG_DOCS  # partial: a lower bound
    assert 0 < len(data["hits"]) <= 10
    # The next search is answered normally by the same app (a narrow one reads no clock: nothing is cut).
    narrow = client.get("/search", query_string={"q": "w7"}).get_json()
    assert (narrow["timed_out"], narrow["total"], narrow["total_relation"]) == (False, 9, "eq")
    assert client.get("/ready").status_code == 200
    assert client.get("/documents/d1").get_json()["id"] == "d1"


@pytest.mark.parametrize("params", BROAD, ids=[str(p) for p in BROAD])
def test_the_same_searches_within_the_default_timeout_are_complete(
    make_app: Any, big_index: Path, params: dict[str, str]
) -> None:
    data = make_app(big_index, count_bound=COUNT_ALL).test_client().get("/search", query_string=params).get_json()
    assert data["timed_out"] is False and data["total_relation"] == "eq" and data["total"] > 1024


# -- through gunicorn ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(big_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker, so every request below is answered by the worker whose search timed out."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with run_gunicorn(big_index, log, workers=1, query_timeout=str(MICROSECOND), count_bound=str(COUNT_ALL)) as srv:
        yield srv


def test_gunicorn_worker_stays_healthy_after_a_timed_out_search(server: Server) -> None:
    for params in ({"q": "common", "published_from": "2016"}, {"q": "common news"}):
        timed_out = server.get("/search", params=params)
        assert timed_out.status_code == 200 and timed_out.json()["timed_out"] is True
    narrow = server.get("/search", params={"q": "w7"}).json()
    assert (narrow["timed_out"], narrow["total"]) == (False, 9)
    assert server.get("/ready").status_code == 200


def test_a_long_get_query_is_refused_in_json_by_flask_then_by_gunicorn(server: Server) -> None:
    # Past max_query_length (2000) but within gunicorn's request line (8190 bytes): the app's 400.
    over = server.get("/search", params={"q": "harbour " * 400})
    assert over.status_code == 400 and over.headers["Content-Type"] == "application/json"
    assert_error(over, 400, "invalid_parameter", "q")
    # Past gunicorn's request line: refused before the app sees it, in the same JSON shape.
    huge = server.get("/search", params={"q": "harbour " * 1200})
    assert huge.status_code == 414 and huge.headers["Content-Type"] == "application/json"
    request_id = huge.headers["X-Request-Id"]
    assert huge.json() == {
        "error": {
            "code": "payload_too_large",
            "field": None,
            "message": huge.json()["error"]["message"],
            "request_id": request_id,
        }
    }
    assert "POST /search" in huge.json()["error"]["message"]
    # The same query as a POST body reaches the app, which answers with its own limit.
    posted = requests.post(server.base + "/search", json={"q": "harbour " * 1200}, timeout=10)
    assert_error(posted, 400, "invalid_parameter", "q")
    assert server.get("/health").status_code == 200
