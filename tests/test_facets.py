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


def _merge(key: str) -> str:
    """An archive's names: "ann" and "bo" are one entity, written "Ann Bo" in full."""
    return "ann bo" if key in ("ann", "bo") else key


@given(
    raw=st.lists(st.lists(st.sampled_from(["Ann", "ann", "Bo", "Ann Bo", "Cy", "Di"]), max_size=3), max_size=30)
    .map(lambda docs: [", ".join(names) for names in docs])
    .flatmap(lambda values: st.tuples(st.just(values), st.lists(st.integers(0, len(values)), max_size=4).map(sorted))),
    docs=st.sets(st.integers(0, 29)),
    merged=st.booleans(),
    months=st.booleans(),
)
def test_a_column_of_segment_parts_is_the_column_read_whole(
    raw: tuple[list[str], list[int]], docs: set[int], merged: bool, months: bool
) -> None:
    """A view's column is put together from its segments' parts (each read once per process, so that a view after
    a write reads only the new segment): the same counts, spellings and distinct values as reading it whole,
    names merged or not (a document writing "Ann" and "Bo" counts once for "Ann Bo")."""
    values, cuts = raw
    if months:
        values = [f"2021-{len(v):02d}-01" if v else "" for v in values]
    bounds = [0, *cuts, len(values)]
    parts = [facets.ColumnPart.parse(values[a:b], months) for a, b in zip(bounds, bounds[1:], strict=False)]
    merge = _merge if merged and not months else None
    whole, joined = FacetColumn(values, months, merge), FacetColumn.of_parts(parts, merge)
    docs = sorted(d for d in docs if d < len(values))

    def keys_of(value: str) -> set[str]:
        written = {value[:7]} if months and value else {p.strip().lower() for p in value.split(",") if p.strip()}
        return {merge(k) for k in written} if merge else written

    counts = Counter(key for d in docs for key in keys_of(values[d]))
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(name.lower(), n) for name, n in joined.top(docs, 10)] == expected
    assert joined.top(docs, 10) == whole.top(docs, 10)
    assert joined.distinct(docs) == whole.distinct(docs)
    assert joined.display == whole.display and set(joined.keys) == set(whole.keys)
    assert joined.documents == whole.documents == len(values)


def test_segment_parts_are_read_once_and_let_go_with_their_segment() -> None:
    reads: list[str] = []

    def reader(segment: str, values: list[str]):  # type: ignore[no-untyped-def]
        def read() -> list[str]:
            reads.append(segment)
            return values

        return segment, read

    first = facets.segment_parts([reader("s1", ["Ann"]), reader("s2", ["Bo"])], "person")
    again = facets.segment_parts([reader("s1", ["Ann"]), reader("s2", ["Bo"]), reader("s3", ["Cy"])], "person")
    assert reads == ["s1", "s2", "s3"] and all(
        a is b for a, b in zip(again, first, strict=False)
    )  # a commit added s3: s1 and s2 are not read again
    facets.segment_parts([reader("s4", ["Ann, Bo, Cy"])], "person")  # merged into one segment
    assert not any(key[0] in ("s1", "s2", "s3") for key in facets._parts)


def test_a_view_without_segments_has_no_values() -> None:
    column = FacetColumn.of_parts([])
    assert column.top([], 5) == [] and column.distinct([]) == 0 and column.documents == 0
