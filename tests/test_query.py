"""query.py: the query language, match modes, filters and date ranges -- pure, no index needed."""

from __future__ import annotations

import pytest
from conftest import fuzz
from hypothesis import given
from hypothesis import strategies as st
from whoosh import query as wq

from searchsvc.errors import ParameterError, QueryError
from searchsvc.search.field_parts import FieldPart
from searchsvc.search.query import ALL_WORDS_BOOST, MAX_DEPTH, QueryBuilder, filter_queries, query_builder
from searchsvc.search.requests import HIGHEST_DAY, LOWEST_DAY, Filters, SearchRequest, date_bounds, normalise_name


@pytest.fixture(scope="module")
def builder() -> QueryBuilder:
    return query_builder()


def parse(builder: QueryBuilder, q: str, match: str = "auto") -> wq.Query:
    return builder.parse(q, match)[0]


def fields_terms(q: wq.Query) -> set[tuple[str, str]]:
    return {(f, t) for f, t in q.iter_all_terms()}


# -- the language --------------------------------------------------------------------------------------------
def test_phrase_searches_default_fields_as_one_phrase(builder: QueryBuilder) -> None:
    q = parse(builder, '"Belt and Road"')
    phrases = [p for p in q.leaves() if isinstance(p, wq.Phrase)]
    assert {p.fieldname for p in phrases} == {"text", "entity"}
    assert all(p.slop == 1 for p in phrases)
    body = next(p for p in phrases if p.fieldname == "text")
    assert body.words == ["belt", "and", "road"]


def test_phrase_slop_is_lucene_style(builder: QueryBuilder) -> None:
    q = parse(builder, '"belt road"~3')
    assert {p.slop for p in q.leaves() if isinstance(p, wq.Phrase)} == {4}


def test_not_excludes(builder: QueryBuilder) -> None:
    q = parse(builder, "Belt NOT Road")
    assert isinstance(q, wq.AndNot)
    assert ("text", "road") in fields_terms(q.b)
    assert ("text", "road") not in fields_terms(q.a)


@pytest.mark.parametrize("text", ["belt -road", "belt AND NOT road", "(belt -road)", "belt OR NOT road"])
def test_every_negation_spelling_is_an_and_not(builder: QueryBuilder, text: str) -> None:
    q = parse(builder, text)
    assert isinstance(q, wq.AndNot)


def test_lone_negation_excludes_from_everything(builder: QueryBuilder) -> None:
    q = parse(builder, "-storm")
    assert isinstance(q, wq.AndNot) and isinstance(q.a, wq.Every)


def test_hyphen_inside_a_word_is_not_an_exclusion(builder: QueryBuilder) -> None:
    q = parse(builder, "Chinese-Russian")
    assert not isinstance(q, wq.AndNot)
    body = next(p for p in q.leaves() if isinstance(p, wq.Phrase) and p.fieldname == "text")
    assert body.words == ["chines", "russian"]


def test_required_term(builder: QueryBuilder) -> None:
    q = parse(builder, "+storm coast")
    assert isinstance(q, wq.AndMaybe)


def test_explicit_operators(builder: QueryBuilder) -> None:
    assert isinstance(parse(builder, "storm AND coast"), wq.And)
    q = parse(builder, "storm OR coast")
    assert isinstance(q, wq.Or) and not any(isinstance(c, wq.And) for c in q.children())


def test_keyword_fields_match_whole_lowercased_names(builder: QueryBuilder) -> None:
    assert parse(builder, 'person:"Sergey Lavrov"') == wq.Term("person", "sergey lavrov")
    assert parse(builder, "person:Lavrov") == wq.Term("person", "lavrov")
    assert parse(builder, "place:(China OR Russia)") == wq.Or([wq.Term("place", "china"), wq.Term("place", "russia")])


def test_entity_field_is_unstemmed(builder: QueryBuilder) -> None:
    assert parse(builder, "entity:Lavrov's") == wq.Term("entity", "lavrov")
    assert parse(builder, "body:talks") == FieldPart(wq.Term("text", "talk"), "body")


def test_prefix_wildcard_fuzzy_and_boost(builder: QueryBuilder) -> None:
    assert {type(x) for x in parse(builder, "lavr*").leaves()} == {wq.Prefix}
    assert {type(x) for x in parse(builder, "la?rov").leaves()} == {wq.Wildcard}
    fuzzy = [x for x in parse(builder, "lavorv~2").leaves() if isinstance(x, wq.FuzzyTerm)]
    assert fuzzy and all(x.maxdist == 2 for x in fuzzy)
    boosted = parse(builder, "body:storm^3")
    assert boosted == FieldPart(wq.Term("text", "storm", boost=3.0), "body")


def test_words_with_a_colon_that_are_not_fields(builder: QueryBuilder) -> None:
    # A URL is a phrase of its words, not a field named "https".
    assert parse(builder, "https://example.com/a") == wq.Or(
        [
            wq.Phrase("text", ["https", "examplecom", "a"], slop=1),
            wq.Phrase("entity", ["https", "examplecom", "a"], slop=1, boost=0.25),
        ]
    )
    q = parse(builder, "Update: storm")
    assert ("text", "updat") in fields_terms(q)


# -- match modes ---------------------------------------------------------------------------------------------
def test_short_query_boosts_documents_with_every_word(builder: QueryBuilder) -> None:
    q = parse(builder, "harbour ferry")
    conjunctions = [c for c in q.children() if isinstance(c, wq.And)]
    assert len(conjunctions) == 1 and conjunctions[0].boost == ALL_WORDS_BOOST


def test_match_all_and_any(builder: QueryBuilder) -> None:
    assert isinstance(parse(builder, "harbour ferry", "all"), wq.And)
    q = parse(builder, "harbour ferry", "any")
    assert isinstance(q, wq.Or) and not any(isinstance(c, wq.And) for c in q.children())


def test_long_query_drops_stopwords_and_weights_repeats(builder: QueryBuilder) -> None:
    q = parse(builder, "the harbour and the ferry to the harbour at dawn")
    terms = fields_terms(q)
    assert ("text", "the") not in terms and ("text", "and") not in terms
    harbour = [t for t in q.leaves() if isinstance(t, wq.Term) and t.fieldname == "text" and t.text == "harbour"]
    ferry = [t for t in q.leaves() if isinstance(t, wq.Term) and t.fieldname == "text" and t.text == "ferri"]
    assert harbour[0].boost == 2 * ferry[0].boost
    assert not any(isinstance(c, wq.And) for c in q.children())


def test_long_query_of_only_stopwords_keeps_them(builder: QueryBuilder) -> None:
    q = parse(builder, "to be or not to be")
    assert ("text", "be") in fields_terms(q)


# -- hostile input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"', "no searchable words"),
        ("?", "no searchable words"),
        ("( ) )", "empty parentheses"),
        ('title:"', "must be followed by"),
        ("title:?", "must be followed by"),
        ("AND", "needs a term on both sides"),
        ("belt AND", "needs a term on both sides"),
        ("OR road", "needs a term on both sides"),
        ("belt AND OR road", "needs a term on both sides"),
        ("NOT", "needs a term after it"),
        ("belt NOT", "needs a term after it"),
        ("title:", "must be followed by"),
        ("title: belt", "must be followed by"),
        ("title:AND", "must be followed by"),
        ("foo:bar", "unknown field `foo`"),
        ("*", "at least 2 letters"),
        ("a*", "at least 2 letters"),
        ("*road", "at least 2 letters"),
        ("?oad", "at least 2 letters"),
        ("()", "empty parentheses"),
        ("!!!", "no searchable words"),
        ("belt\x00", "control character"),
        ("belt\x1b[31m", "control character"),
        ("typo~7", "edit distance"),
        ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "nested"),
        (" ".join(["w"] * 1001), "more than"),
    ],
)
def test_malformed_queries_are_rejected_by_name(builder: QueryBuilder, text: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        builder.parse(text)
    assert message in caught.value.message
    assert caught.value.field == "q"


# Pasted text: what simple_query_string would make of it (see the module docstring), as the query written out.
LENIENT = [
    ("why?", "why"),
    ("what is it?", "what is it"),
    ("why??", "why"),
    ("harbour ? ferry", "harbour ferry"),
    ("really?!", "really"),
    ("so?.. harbour", "so harbour"),
    ("title:why?", "title:why"),
    ("why?^2", "why^2"),
    ('He said "no', "He said no"),
    ('belt "', "belt"),
    ('"belt and road" "ferry', '"belt and road" ferry'),
    ('title:"belt', "title:belt"),
    ("see (above", "see above"),
    ("(belt", "belt"),
    ("1) first", "1 first"),
    ("belt)", "belt"),
    ("((belt OR road) ferry", "(belt OR road) ferry"),
    ("(belt OR road) ferry)", "(belt OR road) ferry"),
    (") belt (", "belt"),
    ("title:(belt", "title:belt"),
]


@pytest.mark.parametrize(("pasted", "meant"), LENIENT)
def test_pasted_punctuation_is_read_leniently(builder: QueryBuilder, pasted: str, meant: str) -> None:
    for match in ("auto", "all"):
        assert parse(builder, pasted, match) == parse(builder, meant, match)


@pytest.mark.parametrize("pattern", ["te?t", "la?rov", "ha?b*", "harbo?r^2", "te?t?"])
def test_a_question_mark_inside_a_word_is_still_a_wildcard(builder: QueryBuilder, pattern: str) -> None:
    assert any(isinstance(x, wq.Wildcard) for x in parse(builder, pattern).leaves())


def test_a_question_mark_ending_a_word_is_not_a_wildcard(builder: QueryBuilder) -> None:
    q = parse(builder, "is the harbour open?")
    assert not any(isinstance(x, (wq.Wildcard, wq.Prefix)) for x in q.leaves())
    assert ("text", "open") in fields_terms(q)
    _, words = builder.parse("harbour open?")
    assert words == [(0, "harbour"), (8, "open")]  # did-you-mean replaces the word and keeps the `?`


def test_deep_nesting_within_the_limit_parses(builder: QueryBuilder) -> None:
    depth = MAX_DEPTH
    storm = wq.Or([wq.Term("text", "storm"), wq.Term("entity", "storm", boost=0.25)])
    assert parse(builder, "(" * depth + "storm" + ")" * depth) == storm


def assert_query_or_error_naming_q(builder: QueryBuilder, text: str) -> None:
    """The property of any input: a query that can match something, or a QueryError about `q` that says why."""
    try:
        q, _ = builder.parse(text)
    except QueryError as exc:
        assert exc.field == "q" and isinstance(exc.message, str) and exc.message.strip(), (text, exc.message)
    else:
        assert isinstance(q, wq.Query) and q is not wq.NullQuery, (text, q)
        assert q.is_leaf() or list(q.leaves()), (text, q)  # not an empty And/Or


@fuzz(200)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    assert_query_or_error_naming_q(query_builder(), text)


@fuzz(300)
@given(
    st.lists(
        st.sampled_from(
            [
                '"',
                "(",
                ")",
                "AND",
                "OR",
                "NOT",
                "-",
                "+",
                "*",
                "title:",
                "~",
                "^2",
                "belt",
                "road",
                "x*",
                ":",
                "person:",
                "\\",
            ]
        ),
        max_size=12,
    )
)
def test_operator_soup_parses_or_raises_query_error(parts: list[str]) -> None:
    assert_query_or_error_naming_q(query_builder(), " ".join(parts))


def test_empty_q_lists_everything_or_the_filtered(builder: QueryBuilder) -> None:
    assert isinstance(builder.build("").query, wq.Every)
    assert isinstance(builder.build("   ").query, wq.Every)
    built = builder.build("", filters=Filters(person=("Wang Yi",)))
    assert built.query == wq.Term("person", "wang yi") and built.text_query is None


def test_bad_match_mode() -> None:
    with pytest.raises(ParameterError) as caught:
        SearchRequest(q="x", match="some")
    assert caught.value.field == "match"


# -- filters and dates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "bounds"),
    [
        ("2021-03-19", ("2021-03-19", "2021-03-19")),
        ("2021-03", ("2021-03-01", "2021-03-31")),
        ("2020-02", ("2020-02-01", "2020-02-29")),
        ("2021-02", ("2021-02-01", "2021-02-28")),
        ("2021-12", ("2021-12-01", "2021-12-31")),
        ("2021", ("2021-01-01", "2021-12-31")),
        ("9999-12", ("9999-12-01", "9999-12-31")),  # the last month a date can hold (was an OverflowError)
        ("9999", ("9999-01-01", "9999-12-31")),
        ("0001-01", ("0001-01-01", "0001-01-31")),
    ],
)
def test_date_bounds(value: str, bounds: tuple[str, str]) -> None:
    assert date_bounds(value, "published_from") == bounds


@pytest.mark.parametrize(
    "value",
    ["2021-13-45", "2021-02-30", "2021-00", "21", "2021/03/19", "March 2021", "", "2021-3-1", "２０２１"],
)
def test_bad_dates_name_the_field(value: str) -> None:
    with pytest.raises(ParameterError) as caught:
        date_bounds(value, "mentioned_to")
    assert caught.value.field == "mentioned_to"
    assert "mentioned_to" in caught.value.message


@fuzz(100)
@given(st.dates(min_value=__import__("datetime").date(1, 1, 1)))
def test_date_bounds_of_any_day_month_and_year(day) -> None:  # type: ignore[no-untyped-def]
    iso = day.isoformat()
    assert date_bounds(iso, "f") == (iso, iso)
    first, last = date_bounds(iso[:7], "f")
    assert first <= iso <= last and first.endswith("-01")
    first, last = date_bounds(iso[:4], "f")
    assert first <= iso <= last


def test_date_ranges_always_have_both_ends() -> None:
    (published,) = filter_queries(Filters(published_from="2021-03"))
    assert isinstance(published, wq.TermRange)
    assert (published.start, published.end) == ("2021-03-01", HIGHEST_DAY)
    (mentioned,) = filter_queries(Filters(mentioned_to="2021"))
    assert isinstance(mentioned, wq.Or)  # one range per precision of a mentioned period
    assert [(r.start, r.end) for r in mentioned.subqueries] == [
        (f"d:{LOWEST_DAY}", "d:2021-12-31"),
        ("w:0001-W01", "w:2021-W52"),
        ("m:0001-01", "m:2021-12"),
        ("y:0001", "y:2021"),
    ]
    # Undated documents index "" which sorts below LOWEST_DAY: never inside a range.
    assert "" < LOWEST_DAY


def test_reversed_range_is_an_error() -> None:
    with pytest.raises(ParameterError) as caught:
        filter_queries(Filters(published_from="2022", published_to="2021"))
    assert caught.value.field == "published_from"


def test_name_filters_are_exact_normalised_terms() -> None:
    queries = filter_queries(Filters(person=("  Sergey   LAVROV ", "Wang Yi"), place=("China",)))
    assert queries == [
        wq.Term("person", "sergey lavrov"),
        wq.Term("person", "wang yi"),
        wq.Term("place", "china"),
    ]
    assert normalise_name("Smith, John") == "smith john"
