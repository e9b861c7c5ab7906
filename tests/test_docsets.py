"""Counting by set algebra (docsets.py) must find exactly the documents a query matches, for every query shape,
across segments and deletions, whichever path (full decode or probe) runs. The oracle is the query evaluated on
each document's words: Whoosh's own AndNot matcher gets some of these wrong (it returned a document holding the
excluded word; searchsvc's query.AndNot fixes it, and is checked here too)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import query as wq
from whoosh.fields import ID, TEXT, Schema
from whoosh.filedb.filestore import RamStorage
from whoosh.index import Index

from searchsvc.search import docsets
from searchsvc.search.query import AndNot

# Word k is in about one document in 2**k: posting lists from every document down to a handful, most of them
# longer than one block of postings (128), so probing has blocks to pass over.
WORDS = [f"w{k}" for k in range(10)]
SEGMENTS = 3
DOCS_PER_SEGMENT = 700


@pytest.fixture(scope="module")
def index() -> Iterator[Index]:
    rng = random.Random(7)
    ix = RamStorage().create_index(Schema(id=ID(stored=True, unique=True), text=TEXT(stored=True)))
    n = 0
    for _ in range(SEGMENTS):
        writer = ix.writer()
        for _ in range(DOCS_PER_SEGMENT):
            words = [w for k, w in enumerate(WORDS) if rng.random() < 0.5**k]
            writer.add_document(id=str(n), text=" ".join(words) or "none")
            n += 1
        writer.commit(merge=False)
    writer = ix.writer()
    for doc in range(0, n, 11):  # deletions in every segment
        writer.delete_by_term("id", str(doc))
    writer.commit(merge=False)
    yield ix


def _terms() -> st.SearchStrategy[wq.Query]:
    return st.sampled_from([*WORDS, "absent"]).map(lambda w: wq.Term("text", w))


queries = st.recursive(
    _terms(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4).map(wq.And),
        st.lists(children, min_size=1, max_size=4).map(wq.Or),
        st.tuples(children, children).map(lambda ab: AndNot(*ab)),
        st.tuples(children, children).map(lambda ab: wq.AndMaybe(*ab)),
    ),
    max_leaves=6,
)


def _matches(q: wq.Query, words: set[str]) -> bool:
    if isinstance(q, wq.Term):
        return q.text in words
    if isinstance(q, wq.And):
        return all(_matches(c, words) for c in q.subqueries)
    if isinstance(q, wq.Or):
        return any(_matches(c, words) for c in q.subqueries)
    if isinstance(q, wq.AndNot):
        return _matches(q.a, words) and not _matches(q.b, words)
    assert isinstance(q, wq.AndMaybe)
    return _matches(q.a, words)


@settings(max_examples=150, deadline=None)
@given(q=queries)
def test_set_algebra_finds_the_matching_documents(index: Index, q: wq.Query) -> None:
    with index.searcher() as searcher:
        assert len(searcher.leaf_searchers()) == SEGMENTS
        live = {d: set(searcher.stored_fields(d)["text"].split()) for d in searcher.reader().all_doc_ids()}
        expected = {d for d, words in live.items() if _matches(q, words)}
        assert docsets.matching_docs(searcher, q) == expected
        assert {hit.docnum for hit in searcher.search(q, limit=None)} == expected


def test_a_long_posting_list_is_probed_only_where_the_candidates_are(index: Index) -> None:
    """ "w0 AND w8": the few documents of w8 are looked up in w0's list, whose other blocks stay encoded."""
    with index.searcher() as searcher:
        reader = searcher.leaf_searchers()[0][0].reader()
        everything = sorted(docsets.leaf_ids(reader.postings("text", "w0")))
        rare = sorted(docsets.leaf_ids(reader.postings("text", "w8")))
        assert len(everything) > 4 * 128 and 0 < len(rare) < 8
        found, decoded = docsets._Probe(reader, "text", "w0").among(rare)
        assert found == [d for d in rare if d in set(everything)]
        assert decoded < len(everything) / 2
        # Asked again from an earlier document, it starts over rather than missing it.
        probe = docsets._Probe(reader, "text", "w0")
        probe.among(everything[-3:])
        assert probe.among(everything[:3])[0] == everything[:3]
