"""FacetColumn: the counts a facet request shows, from a column's raw values."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from searchsvc.search import facets
from searchsvc.search.facets import FacetColumn

RAW = ["Sergey Lavrov, Wang Yi", "", "wang yi", b"Antony Blinken,Wang Yi", "Sergey Lavrov", None]


def test_counts_names_case_blind_shown_as_first_spelled() -> None:
    column = FacetColumn(RAW)
    assert column.top(range(6), 10) == [("Wang Yi", 3), ("Sergey Lavrov", 2), ("Antony Blinken", 1)]
    assert column.top({2, 3}, 10) == [("Wang Yi", 2), ("Antony Blinken", 1)]
    assert column.top([1, 5], 10) == [] and column.top((), 10) == []


def test_ties_are_broken_by_name_and_size_cuts() -> None:
    column = FacetColumn(["b, a, c", "c, b", "a"])
    assert column.top(range(3), 2) == [("a", 2), ("b", 2)]
    assert column.top(range(3), 0) == []


def test_months_of_dates() -> None:
    column = FacetColumn(["2021-03-19", "2021-03-01T10:00:00", "", "2020-12-31"], months=True)
    assert column.top(range(4), 5) == [("2021-03", 2), ("2020-12", 1)]


def test_distinct_values_of_some_documents() -> None:
    column = FacetColumn(RAW)
    assert column.distinct(range(6)) == 3 and column.distinct([0, 2]) == 2 and column.distinct([]) == 0


names = st.lists(st.sampled_from(["Ann", "ann", "Bo", "Cy", "Di", "Ed"]), max_size=4).map(", ".join)


@given(
    raw=st.lists(names, max_size=30),
    docs=st.sets(st.integers(0, 29)),
    size=st.integers(1, 7),
    share=st.sampled_from([0, 10**9]),
)
def test_top_matches_a_plain_count(raw: list[str], docs: set[int], size: int, share: int) -> None:
    """Both ways to find the values of the matches (a mask over every pair; each document's own range of pairs)."""
    docs = {d for d in docs if d < len(raw)}
    counts = Counter(key for d in docs for key in {p.strip().lower(): None for p in raw[d].split(",") if p.strip()})
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    saved, facets.RANGES_SHARE = facets.RANGES_SHARE, share
    try:
        column = FacetColumn(raw)
        assert [(name.lower(), n) for name, n in column.top(sorted(docs), size)] == expected
        assert column.distinct(sorted(docs)) == len(counts)
    finally:
        facets.RANGES_SHARE = saved
