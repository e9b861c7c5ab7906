"""Mentioned dates are periods (a day, an ISO week, a month, a year): `mentioned_from` / `mentioned_to` find a
document when one of its periods intersects the range, and the `mentioned` facet counts a period in every month
it covers (issue 23)."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import fuzz
from hypothesis import given
from hypothesis import strategies as st
from whoosh.filedb.filestore import RamStorage

from searchsvc.documents import Document
from searchsvc.extract.dates import day, month, week, year
from searchsvc.extract.types import Extraction, MentionedDate
from searchsvc.index.schema import build_schema, document_fields
from searchsvc.search import docsets
from searchsvc.search.query import filter_queries
from searchsvc.search.requests import Filters, SearchRequest, date_bounds
from searchsvc.search.service import SearchService


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        ("2021-03-31", "2021-03-31", {"e2"}),  # the month's last day (found before)
        ("2021-03-10", "2021-03-20", {"e1", "e2"}),  # inside the month
        ("2021-03-15", "2021-03-15", {"e1", "e2"}),
        ("2021-03-16", "2021-03-16", {"e2"}),
        ("2021-02-01", "2021-02-28", set()),
        ("2021-04-01", None, set()),
        (None, "2021-02-28", set()),
        ("2021", None, {"e1", "e2"}),
        ("2021-03", "2021-03", {"e1", "e2"}),
    ],
)
def test_issue_a_mentioned_month_is_found_on_every_day_of_it(
    issue_service: SearchService, lo: str | None, hi: str | None, expected: set[str]
) -> None:
    result = issue_service.search(SearchRequest(filters=Filters(mentioned_from=lo, mentioned_to=hi), limit=10))
    assert {h.id for h in result.hits} == expected


def test_issue_the_month_facet_shows_the_period(issue_service: SearchService) -> None:
    result = issue_service.search(SearchRequest(facets=("mentioned",), limit=10))
    assert result.facets["mentioned"] == [{"value": "2021-03", "count": 2}]


@pytest.mark.parametrize(
    ("period", "months"),
    [
        (day(dt.date(2021, 3, 19), "Friday"), ["2021-03"]),
        (week(dt.date(2021, 3, 31), "this week"), ["2021-03", "2021-04"]),  # Monday 29 March to Sunday 4 April
        (month(2021, 3, "March"), ["2021-03"]),
        (year(2021, "2021"), [f"2021-{m:02d}" for m in range(1, 13)]),
    ],
)
def test_a_period_counts_in_every_month_it_covers(period: MentionedDate, months: list[str]) -> None:
    doc = Document(id="x", title="", body="Text.")
    fields = document_fields(doc, Extraction(dates=(period,)), path="", content_hash="")
    assert fields["mentioned_month"] == ",".join(months)


# -- property: found exactly when a period intersects the range -----------------------------------------------
FIRST, LAST = dt.date(2019, 11, 1), dt.date(2022, 2, 28)
_days = st.dates(min_value=FIRST, max_value=LAST)


@st.composite
def _periods(draw: st.DrawFn) -> MentionedDate:
    value = draw(_days)
    kind = draw(st.sampled_from(["day", "week", "month", "year"]))
    if kind == "day":
        return day(value, "d")
    if kind == "week":
        return week(value, "w")
    if kind == "month":
        return month(value.year, value.month, "m")
    return year(value.year, "y")


@st.composite
def _bounds(draw: st.DrawFn) -> str | None:
    value = draw(_days)
    return draw(st.sampled_from([None, value.isoformat(), value.isoformat()[:7], value.isoformat()[:4]]))


@fuzz(80)
@given(docs=st.lists(st.lists(_periods(), max_size=3), min_size=1, max_size=6), lo=_bounds(), hi=_bounds())
def test_a_document_is_found_exactly_when_a_period_intersects_the_range(
    docs: list[list[MentionedDate]], lo: str | None, hi: str | None
) -> None:
    first = date_bounds(lo, "mentioned_from")[0] if lo else "0001-01-01"
    last = date_bounds(hi, "mentioned_to")[1] if hi else "9999-12-31"
    if (lo or hi) is None or first > last:
        return
    ix = RamStorage().create_index(build_schema())
    with ix.writer() as writer:
        for n, periods in enumerate(docs):
            extraction = Extraction(dates=tuple(sorted(set(periods), key=lambda p: (p.start, p.value))))
            fields = document_fields(Document(id=str(n), title="", body="Text."), extraction, path="", content_hash="")
            writer.add_document(**fields)
    expected = {
        str(n)
        for n, periods in enumerate(docs)
        if any(p.start.isoformat() <= last and p.end.isoformat() >= first for p in periods)
    }
    (q,) = filter_queries(Filters(mentioned_from=lo, mentioned_to=hi))
    with ix.searcher() as searcher:
        found = {hit["id"] for hit in searcher.search(q, limit=None)}
        by_sets = docsets.matching_docs(searcher, q)
        assert by_sets is not None
        by_docsets = {searcher.stored_fields(d)["id"] for d in by_sets}
    assert found == expected
    assert by_docsets == expected
