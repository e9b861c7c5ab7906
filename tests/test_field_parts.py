"""field_parts.py and schema.py: `title:` and `body:` answered from `text`, and documents rebuilt from stored
fields (what a rebuild carries over for documents added over HTTP)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from conftest import TEST_SETTINGS, build_index, write_corpus

from searchsvc.config import load_settings
from searchsvc.documents import Document
from searchsvc.extract.dates import day, month, week, year
from searchsvc.extract.types import Entity, Extraction
from searchsvc.index.schema import build_schema, document_fields, document_from_stored, title_positions
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService

PARTS_DOCS = [
    {"id": "part-title", "title": "Glacier report", "body": "Nothing about ice here at all."},
    {"id": "part-body", "title": "Weekly notes", "body": "The glacier retreated again this summer."},
    {"id": "part-both", "title": "Glacier walk", "body": "A guided glacier walk for families."},
    {"id": "part-edge", "title": "Quiet at the lighthouse", "body": "Tugboat services resumed on Friday."},
    {"id": "part-copies", "title": "Alpha beta", "body": "Gamma delta epsilon."},
]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchService]:
    root = tmp_path_factory.mktemp("parts")
    build_index(write_corpus(root / "corpus", PARTS_DOCS), root / "index")
    service = SearchService(load_settings({**TEST_SETTINGS, "index_dir": str(root / "index")}, env={}))
    yield service
    service.close()


def ids(service: SearchService, q: str) -> set[str]:
    return {h.id for h in service.search(SearchRequest(q=q, limit=50)).hits}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("glacier", {"part-title", "part-body", "part-both"}),
        ("title:glacier", {"part-title", "part-both"}),
        ("body:glacier", {"part-body", "part-both"}),
        ("title:glac*", {"part-title", "part-both"}),
        ("body:glac*", {"part-body", "part-both"}),
        ("body:glacer~1", {"part-body", "part-both"}),
        ("title:glacier AND body:walk", {"part-both"}),
        ('body:"glacier walk"', {"part-both"}),
        ('title:"glacier walk"', {"part-both"}),
        ('title:"glacier report"', {"part-title"}),
        ('body:"glacier report"', set()),
    ],
)
def test_title_and_body_queries_match_only_their_part(parts: SearchService, q: str, expected: set[str]) -> None:
    assert ids(parts, q) == expected


@pytest.mark.parametrize(
    "q",
    [
        'body:"lighthouse tugboat"',  # the title's last word and the body's first
        'title:"lighthouse tugboat"',
        'title:"beta alpha"',  # the first title copy's end and the second's start
    ],
)
def test_phrases_do_not_cross_the_parts(parts: SearchService, q: str) -> None:
    assert ids(parts, q) == set()


def test_a_part_query_marks_only_its_part(parts: SearchService) -> None:
    hits = {h.id: h for h in parts.search(SearchRequest(q="title:glacier", limit=10)).hits}
    both = hits["part-both"].highlights
    assert "<mark>Glacier</mark>" in both["title"][0]
    assert "<mark>" not in " ".join(both["body"])
    hits = {h.id: h for h in parts.search(SearchRequest(q="body:glacier", limit=10)).hits}
    both = hits["part-both"].highlights
    assert "<mark>" not in " ".join(both["title"])
    assert "<mark>glacier</mark>" in " ".join(both["body"])


def test_title_positions_count_every_token_the_tokenizer_makes() -> None:
    assert title_positions("") == 0
    assert title_positions("Russia's U.S. talks -- 2021") == 4
    assert title_positions("  “Quoted”, twice!  ") == 2


def test_a_document_rebuilt_from_stored_fields_is_the_one_indexed() -> None:
    doc = Document(
        id="d1",
        title="Talks",
        body="Talks in Alaska on Monday.",
        published=dt.datetime(2021, 3, 19, 9, 30, tzinfo=dt.UTC),
        url="https://example.com/a",
        source="Example",
        author="A. Writer",
        tags=("politics", "asia"),
    )
    extraction = Extraction(
        entities=(Entity("Alaska", "place", 1), Entity("Wang Yi", "person", 2)),
        dates=(
            day(dt.date(2021, 3, 22), "on Monday"),
            week(dt.date(2021, 3, 22), "next week"),
            month(2021, 4, "in April"),
            year(2022, "in 2022"),
        ),
    )
    fields = document_fields(doc, extraction, path="", content_hash="00" * 16)
    schema = build_schema()
    stored = {name: value for name, value in fields.items() if schema[name].stored and value is not None}
    assert "path" not in stored and "content_hash" not in stored  # columns only
    assert document_from_stored(stored) == (doc, extraction)
    bare = Document(id="d2", title="", body="Only a body.", published=dt.date(2020, 1, 2))
    fields = document_fields(bare, Extraction(), path="x", content_hash="")
    stored = {name: value for name, value in fields.items() if schema[name].stored and value is not None}
    assert set(stored) == {"id", "title", "body", "published_raw"}  # nothing empty is stored
    assert document_from_stored(stored) == (bare, Extraction())
