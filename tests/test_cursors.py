"""Deep pagination by cursor and format=ndjson, on an index of more than 10,000 documents (built without spaCy in
seconds): every sort walks past the offset limit, writes landing mid-walk (new documents, deletions, statistics
that move every BM25 weight, merged segments) neither repeat nor skip a document present throughout, and the
NDJSON stream holds the same ids as the cursor walk."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import assert_error
from flask import Flask
from flask.testing import FlaskClient

from searchsvc.documents import Document, document_from_mapping
from searchsvc.extract.types import Extraction
from searchsvc.index.indexer import apply_changes
from searchsvc.index.schema import document_fields
from searchsvc.index.store import IndexStore
from searchsvc.search.cursors import Cursor, decode

DOCS = 10_400
WORDS = ["harbour", "ferry", "storm", "market", "council", "strike", "bridge", "river", "school", "budget"]
QUERY = "report harbour"  # every document has "report"; "harbour" in some of them ranks those first


def _doc(i: int, rng: random.Random, prefix: str = "d") -> dict[str, Any]:
    words = rng.choices(WORDS, k=rng.randint(3, 12))
    published = None if i % 37 == 0 else f"20{rng.randint(19, 21)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {
        "id": f"{prefix}{i:05d}",
        "title": f"Report {i}",
        "body": "report " + " ".join(words),
        "published": published,
    }


class _NoExtraction:
    def extract_many(self, items: list[Any], batch_size: int = 0) -> list[Extraction]:
        return [Extraction() for _ in items]


@pytest.fixture(scope="module")
def big_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cursors") / "index"
    rng = random.Random(20)
    store = IndexStore(path)
    ix, generation = store.create_generation()
    writer = ix.writer(limitmb=256)
    for i in range(DOCS):
        doc = document_from_mapping(_doc(i, rng))
        writer.add_document(**document_fields(doc, Extraction(), path="", content_hash=""))
    writer.commit()
    store.publish(generation)
    return path


@pytest.fixture
def index_copy(big_index: Path, tmp_path: Path) -> Path:
    shutil.copytree(big_index, tmp_path / "index")
    return tmp_path / "index"


@pytest.fixture
def big_client(make_app: Any, index_copy: Path) -> Iterator[FlaskClient]:
    app: Flask = make_app(index_copy, cache_size=0, query_timeout=30.0)
    yield app.test_client()


def _write(index: Path, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
    docs: list[Document] = [document_from_mapping(d) for d in upserts]
    apply_changes(IndexStore(index), docs, deletes, _NoExtraction(), "none")  # type: ignore[arg-type]


def _page(client: FlaskClient, q: str = QUERY, **params: Any) -> dict[str, Any]:
    response = client.get("/search", query_string={"q": q, "limit": 100, "highlight": "false", **params})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    data: dict[str, Any] = response.get_json()
    assert not data["timed_out"]
    return data


def _walk(client: FlaskClient, sort: str, during: Any = None, q: str = QUERY) -> list[str]:
    ids: list[str] = []
    cursor = None
    pages = 0
    while True:
        data = _page(client, q, sort=sort, **({"cursor": cursor} if cursor else {}))
        ids += [h["id"] for h in data["hits"]]
        pages += 1
        if during is not None:
            during(pages)
        cursor = data["next"]
        if cursor is None:
            return ids


@pytest.mark.parametrize(
    ("sort", "q"),
    [
        ("relevance", QUERY),
        ("published", QUERY),
        ("-published", QUERY),
        ("relevance", "report harb*"),  # a prefix: its terms' statistics are not among the query's
        ("relevance", "report harbor~1"),  # a fuzzy term: likewise
        ("relevance", "report harbour ferry storm market"),  # natural language: feedback terms
        ("relevance", 'report "harbour ferry" title:report'),  # a phrase, a field part
    ],
)
def test_a_cursor_walk_sees_each_document_once_while_documents_are_written(
    big_client: FlaskClient, index_copy: Path, sort: str, q: str
) -> None:
    rng = random.Random(sort)
    initial = {f"d{i:05d}" for i in range(DOCS)}
    deleted: set[str] = set()

    def write(pages: int) -> None:
        if pages in (3, 40, 80):
            # New documents, many of them with "harbour" (its IDF falls, the average length moves); deletions
            # on both sides of the walk's position.
            upserts = [_doc(i, rng, prefix=f"new{pages}-") for i in range(300)]
            for u in upserts[:200]:
                u["body"] += " harbour harbour"
            gone = rng.sample(sorted(initial - deleted), 150)
            deleted.update(gone)
            _write(index_copy, upserts, gone)

    ids = _walk(big_client, sort, write, q)
    assert len(ids) == len(set(ids)), "a document came twice"
    missing = (initial - deleted) - set(ids)
    assert not missing, f"{len(missing)} documents present throughout were skipped, e.g. {sorted(missing)[:5]}"
    assert len(ids) > 10_000  # beyond the offset limit


def test_pages_of_a_cursor_follow_the_order_of_one_long_page(big_client: FlaskClient) -> None:
    for sort in ("relevance", "published", "-published"):
        first = _page(big_client, sort=sort, limit=50)
        second = _page(big_client, sort=sort, limit=50, cursor=first["next"])
        both = _page(big_client, sort=sort, limit=100)
        assert [h["id"] for h in first["hits"] + second["hits"]] == [h["id"] for h in both["hits"]], sort
        assert second["total"] == both["total"]


def test_ndjson_streams_the_ids_of_the_cursor_walk(big_client: FlaskClient) -> None:
    for sort in ("relevance",):
        walked = _walk(big_client, sort)
        response = big_client.get("/search", query_string={"q": QUERY, "sort": sort, "format": "ndjson"})
        assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
        lines = [orjson.loads(line) for line in response.get_data().splitlines()]
        assert [line["id"] for line in lines] == walked
        assert set(lines[0]) == {"id", "title", "published", "entities", "dates"}


def test_bad_cursors_are_refused(big_client: FlaskClient) -> None:
    first = _page(big_client)
    assert_error(_get(big_client, cursor="nonsense"), 400, "invalid_parameter", "cursor")
    assert_error(_get(big_client, cursor="c1.AAAA"), 400, "invalid_parameter", "cursor")
    assert_error(_get(big_client, q="ferry", cursor=first["next"]), 400, "invalid_parameter", "cursor")
    assert_error(_get(big_client, sort="published", cursor=first["next"]), 400, "invalid_parameter", "cursor")
    assert_error(_get(big_client, offset=10, cursor=first["next"]), 400, "invalid_parameter", "offset")
    assert_error(_get(big_client, format="ndjson", facets="place"), 400, "invalid_parameter", "facets")
    forged = decode(first["next"])
    forged_token = Cursor(forged.fingerprint, forged.generation, "2020-01-01", forged.id).encode()
    assert_error(_get(big_client, cursor=forged_token), 400, "invalid_parameter", "cursor")


def _get(client: FlaskClient, **params: Any) -> Any:
    return client.get("/search", query_string={"q": QUERY, **params})


def test_a_short_result_has_no_next(client: FlaskClient) -> None:
    data = client.get("/search?q=harbour&limit=100").get_json()
    assert data["hits"] and data["next"] is None
    full = client.get("/search?q=harbour&limit=1").get_json()
    assert full["next"] is not None
    rest = client.get("/search", query_string={"q": "harbour", "limit": 100, "cursor": full["next"]}).get_json()
    assert [h["id"] for h in full["hits"] + rest["hits"]] == [h["id"] for h in data["hits"]]


def test_the_first_by_date_are_those_of_a_full_sort(big_index: Path) -> None:
    """by_published picks few matches by their places in the view's date order and walks that order for many;
    both give what sorting every match by (date key, id order) gives, after any cursor position."""
    from searchsvc.config import load_settings
    from searchsvc.search.service import SearchService

    svc = SearchService(load_settings({"index_dir": str(big_index), "cache_size": 0}, env={}))
    rng = random.Random(7)
    try:
        with svc._use() as (view, searcher):
            n = searcher.doc_count_all()
            ranks = view.id_order()[1]
            for size in (1, 5, 40, 900, 1299, 1301, 5000, n):
                docs = rng.sample(range(n), size)
                for newest_first in (True, False):
                    ordered = sorted(docs, key=lambda d: (view.date_key(d, newest_first), ranks[d]))
                    keys = [(view.date_key(d, newest_first), ranks[d]) for d in ordered]
                    for wanted in (1, 10, 300):
                        assert view.by_published(set(docs), wanted, newest_first) == ordered[:wanted]
                        cut = rng.randrange(len(ordered))
                        after = keys[cut]
                        expected = [d for d, k in zip(ordered, keys, strict=True) if k >= after][:wanted]
                        assert view.by_published(docs, wanted, newest_first, after) == expected
    finally:
        svc.close()
