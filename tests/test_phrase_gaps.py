"""Phrases stay inside one part of a field: the combined `text` field holds the title twice and then the body,
and `entity` holds one name after another, but no phrase (whatever its slop) joins the end of one part to the
start of the next (issue 23)."""

from __future__ import annotations

import pytest
from conftest import fuzz
from hypothesis import given
from hypothesis import strategies as st
from whoosh.filedb.filestore import RamStorage

from searchsvc.documents import Document
from searchsvc.extract.types import Entity, Extraction
from searchsvc.index.schema import (
    PART_SEPARATOR,
    POSITION_GAP,
    body_start,
    build_schema,
    combined_text,
    document_fields,
    text_analyzer,
)
from searchsvc.search.query import MAX_SLOP, query_builder
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService


def ids(service: SearchService, q: str) -> set[str]:
    return {h.id for h in service.search(SearchRequest(q=q, limit=50)).hits}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"russia china"', set()),  # the title's last word, the body's first
        ('"talks in russia china"', set()),
        ('"russia talks"', set()),  # the first title copy's end, the second's start
        ('"russia china"~5', set()),
        (f'"russia china"~{MAX_SLOP}', set()),
        ('"talks in russia"', {"e1"}),
        ('"china announced"', {"e1"}),
        ('"talks russia"~1', {"e1"}),
        ('"march 2021"', {"e2"}),
    ],
)
def test_issue_phrases_do_not_join_title_and_body(issue_service: SearchService, q: str, expected: set[str]) -> None:
    assert ids(issue_service, q) == expected


def test_the_gap_is_wider_than_any_slop() -> None:
    # Whoosh's slop is the user's plus one; a part's first token is POSITION_GAP + 1 after the previous one.
    assert POSITION_GAP + 1 > MAX_SLOP + 1


def test_parts_are_a_gap_apart_and_a_wordless_part_adds_none() -> None:
    def positions(value: str) -> list[tuple[str, int]]:
        return [(t.text, t.pos) for t in text_analyzer()(value, positions=True)]

    title, body = "Talks in Russia", "China announced."
    assert positions(combined_text(title, body)) == [
        ("talk", 0), ("in", 1), ("russia", 2),
        ("talk", 3 + POSITION_GAP), ("in", 4 + POSITION_GAP), ("russia", 5 + POSITION_GAP),
        ("china", body_start(3)), ("announc", body_start(3) + 1),
    ]  # fmt: skip
    assert positions(combined_text("!!", body)) == [("china", 0), ("announc", 1)] and body_start(0) == 0
    assert positions(combined_text("", f"a{PART_SEPARATOR}b")) == [("a", 0), ("b", 1)]  # inside a part: a space


def test_entity_names_are_parts_too() -> None:
    storage = RamStorage()
    ix = storage.create_index(build_schema())
    doc = Document(id="n", title="Talks", body="Talks in Moscow and Beijing.")
    extraction = Extraction(entities=(Entity("China", "place", 1), Entity("Russia", "place", 1)))
    with ix.writer() as writer:
        writer.add_document(**document_fields(doc, extraction, path="", content_hash=""))
    with ix.searcher() as searcher:
        for q, expected in [
            ('entity:"china russia"', 0),
            (f'entity:"china russia"~{MAX_SLOP}', 0),
            ("entity:china", 1),
        ]:
            assert len(searcher.search(query_builder().build(q).query)) == expected, q


# -- property: a phrase found is in one part ----------------------------------------------------------------
WORDS = ["alpha", "beta", "gamma", "delta"]
_ANALYZER = text_analyzer()


def _tokens(text: str) -> list[str]:
    return [t.text for t in _ANALYZER(text)]


def _has_phrase(tokens: list[str], words: list[str], slop: int) -> bool:
    """Whoosh's ordered SpanNear with `slop` (Whoosh's: 1 = adjacent): each word within `slop` positions after
    the end of what matched before it."""
    spans = {(p, p) for p, t in enumerate(tokens) if t == words[0]}
    for word in words[1:]:
        spans = {(s, p) for s, e in spans for p, t in enumerate(tokens) if t == word and e < p <= e + slop}
    return bool(spans)


_text = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)
_body = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)


@fuzz(60)
@given(
    docs=st.lists(st.tuples(_text, _body), min_size=1, max_size=5),
    phrase=st.lists(st.sampled_from(WORDS), min_size=2, max_size=3),
    slop=st.sampled_from([0, 1, 2, 5, MAX_SLOP]),
    part=st.sampled_from([None, "title", "body"]),
)
def test_every_phrase_found_is_in_one_field(
    docs: list[tuple[str, str]], phrase: list[str], slop: int, part: str | None
) -> None:
    ix = RamStorage().create_index(build_schema())
    with ix.writer() as writer:
        for n, (title, body) in enumerate(docs):
            doc = Document(id=str(n), title=title, body=body)
            writer.add_document(**document_fields(doc, Extraction(), path="", content_hash=""))
    q = f'{part + ":" if part else ""}"{" ".join(phrase)}"~{slop}'
    with ix.searcher() as searcher:
        found = {hit["id"] for hit in searcher.search(query_builder().build(q, match="all").query, limit=None)}
    words = _tokens(" ".join(phrase))
    expected = set()
    for n, (title, body) in enumerate(docs):
        parts = {"title": title, "body": body}
        texts = [parts[part]] if part else list(parts.values())
        if any(_has_phrase(_tokens(text), words, slop + 1) for text in texts):
            expected.add(str(n))
    assert found == expected, q
