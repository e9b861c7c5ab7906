"""expansion.py and the one deadline of a search (issue 15, item 1): prefixes, wildcards and fuzzy terms are
expanded once per search, their cost is the lexicon entries they read, and every phase reads the clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_SETTINGS, assert_error
from flask.testing import FlaskClient
from whoosh.filedb.filestore import RamStorage
from whoosh.reading import SegmentReader

from searchsvc.config import load_settings
from searchsvc.errors import QueryError
from searchsvc.index.schema import build_schema
from searchsvc.search import expansion, service
from searchsvc.search.expansion import Expanded, ExpansionTimedOut, expand_query
from searchsvc.search.query import MAX_FUZZY_TERMS, QueryBuilder
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService


def make_service(index_dir: Path, **overrides: object) -> SearchService:
    return SearchService(load_settings({**TEST_SETTINGS, "index_dir": str(index_dir), **overrides}, env={}))


@pytest.fixture(scope="module")
def big_lexicon() -> Iterator[tuple[QueryBuilder, Any]]:
    """One document of 30,000 distinct words starting with "ta", in memory."""
    schema = build_schema()
    ix = RamStorage().create_index(schema)
    with ix.writer() as writer:
        writer.add_document(id="big", text=" ".join(f"ta{i:05d}" for i in range(30_000)) + " tank")
    with ix.searcher() as searcher:
        yield QueryBuilder(schema), searcher.reader()


def test_expansion_over_the_limit_is_rejected() -> None:
    schema = build_schema()
    ix = RamStorage().create_index(schema)
    with ix.writer() as writer:
        for i in range(30):
            writer.add_document(id=str(i), text=f"station{i} stationery")
    builder = QueryBuilder(schema)
    with ix.searcher() as searcher:
        q, _ = builder.parse("body:station*")
        expanded = expand_query(q, searcher.reader(), max_terms=100, max_visits=1000)
        assert len(next(x for x in expanded.leaves() if isinstance(x, Expanded)).btexts) == 31
        with pytest.raises(QueryError) as caught:
            expand_query(q, searcher.reader(), max_terms=10, max_visits=1000)
        assert "station*" in caught.value.message
        fuzzy, _ = builder.parse("body:station1~1")
        with pytest.raises(QueryError):
            expand_query(fuzzy, searcher.reader(), max_terms=5, max_visits=1000)


def test_a_fuzzy_term_costs_the_entries_it_reads_not_the_terms_it_finds(big_lexicon: tuple[QueryBuilder, Any]) -> None:
    # `tank~1` matches 1 term but reads the 30,001 entries starting with "t".
    builder, reader = big_lexicon
    q, _ = builder.parse("body:tank~1")
    with pytest.raises(QueryError) as caught:
        expand_query(q, reader, max_terms=1024, max_visits=10_000)
    assert "more than 10000 index terms" in caught.value.message and caught.value.field == "q"
    expanded = expand_query(q, reader, max_terms=1024, max_visits=50_000)
    assert [x.btexts for x in expanded.leaves() if isinstance(x, Expanded)] == [(b"tank",)]


def test_expansion_reads_the_clock_while_it_walks(big_lexicon: tuple[QueryBuilder, Any]) -> None:
    builder, reader = big_lexicon
    q, _ = builder.parse("body:tank~1")
    started = time.monotonic()
    with pytest.raises(ExpansionTimedOut):
        expand_query(q, reader, max_terms=1024, max_visits=100_000, deadline=started - 1)
    assert time.monotonic() - started < 0.5


HOSTILE: list[tuple[str, int, str | None]] = [
    ("harbour~2/0", 400, "invalid_query"),  # no prefix: the whole lexicon, for every phase
    ("harbour~1/0", 400, "invalid_query"),
    (" ".join(f"harbour{i}~2" for i in range(MAX_FUZZY_TERMS + 1)), 400, "invalid_query"),
    (" ".join(f"harbour{i}~2" for i in range(MAX_FUZZY_TERMS)), 200, None),
    ("habour~1/1", 200, None),
    ("habour~1", 200, None),
]


@pytest.mark.parametrize(("q", "status", "code"), HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_fuzzy_terms_need_a_prefix_and_are_few(client: FlaskClient, q: str, status: int, code: str | None) -> None:
    response = client.post("/search", json={"q": q})
    if code is None:
        assert response.status_code == status, response.get_data(as_text=True)
    else:
        assert "fuzzy" in assert_error(response, status, code, "q")["message"]


def test_a_fuzzy_search_finds_and_marks_the_near_words(service: SearchService) -> None:
    result = service.search(SearchRequest(q="habour~1"))
    assert result.total == service.search(SearchRequest(q="harbour")).total == 3
    assert "<mark>harbour</mark>" in " ".join(result.hits[0].highlights["body"]).lower()


def test_each_pattern_is_expanded_once_per_search(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[str] = []
    original_prefix, original_within = SegmentReader.expand_prefix, SegmentReader.terms_within

    def expand_prefix(self: Any, fieldname: str, prefix: Any) -> Any:
        walks.append(f"{fieldname}:{prefix}*")
        return original_prefix(self, fieldname, prefix)

    def terms_within(self: Any, fieldname: str, text: str, maxdist: int, prefix: int = 0) -> Any:
        walks.append(f"{fieldname}:{text}~")
        return original_within(self, fieldname, text, maxdist, prefix)

    monkeypatch.setattr(SegmentReader, "expand_prefix", expand_prefix)
    monkeypatch.setattr(SegmentReader, "terms_within", terms_within)
    svc = make_service(index_dir, cache_size=0)
    try:
        result = svc.search(SearchRequest(q="habour~1 ferr* OR storm", facets=("place",)))
        assert result.total > 0 and not result.timed_out
    finally:
        svc.close()
    # One walk per pattern and default field (text, entity); before: the cost check, the estimate, the count,
    # the ranking and the highlights each walked again.
    assert sorted(walks) == sorted(["text:h*", "entity:h*", "text:ferr*", "entity:ferr*"])


def test_a_search_whose_expansion_runs_out_of_time_answers_timed_out(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expansion, "VISITS_PER_CLOCK_CHECK", 1)
    svc = make_service(index_dir, query_timeout=0.0)
    try:
        result = svc.search(SearchRequest(q="harb*", facets=("person",)))
        assert result.timed_out and result.hits == [] and result.total_relation == "gte"
        assert result.facets == {"person": []}
    finally:
        svc.close()


def test_did_you_mean_is_inside_the_deadline(index_dir: Path) -> None:
    svc = make_service(index_dir, query_timeout=0.0)
    try:
        result = svc.search(SearchRequest(q="zzxq qqzx xxqz wwqz"))  # four unknown words: four lexicon walks
        assert result.total == 0 and result.timed_out
    finally:
        svc.close()


def test_highlighting_is_inside_the_deadline(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "HIGHLIGHT_CHARS_PER_CLOCK_CHECK", 1, raising=False)
    svc = make_service(index_dir, query_timeout=0.0)
    try:
        result = svc.search(SearchRequest(q="harbour"))
        assert len(result.hits) == 3 and result.timed_out
        assert result.hits[0].highlights["body"]  # the first, before the clock was read
        assert all(h.highlights == {"title": [], "body": []} for h in result.hits[1:])
    finally:
        svc.close()
