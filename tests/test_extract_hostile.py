"""Extraction stays linear on hostile text: parentheses that never close or close after thousands of opens, names of
thousands of repeated words, long lines of many mentions or parentheses."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from searchsvc.extract import Extractor, acronyms, entities, news
from searchsvc.extract.acronyms import AcronymDefinition
from searchsvc.extract.names import drop_open_paren, strip_edges
from searchsvc.extract.types import RawMention

MANY = 50_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("World Health Organization (WHO", "World Health Organization"),
        ("World Health Organization (WHO)", "World Health Organization (WHO)"),
        ("Bank (of England) (BoE", "Bank (of England)"),
        ("(", ""),
        (") (", ")"),
        ("a \t (b", "a"),
        ("no parens", "no parens"),
    ],
)
def test_an_open_parenthesis_is_dropped_with_what_follows(text: str, expected: str) -> None:
    assert drop_open_paren(text) == expected


@pytest.mark.parametrize("text", ["(" * MANY + ")", "Merkel " + "( " * (MANY // 2) + ")", "(" * MANY])
def test_cleaning_a_name_of_many_open_parentheses_is_linear(text: str) -> None:
    started = time.perf_counter()
    strip_edges(text)
    assert time.perf_counter() - started < 1.0  # the regex \s*\([^)]*$ took 15 s on the first


@pytest.mark.parametrize(
    "text",
    ["(" * MANY, "The World Health Organization " + "(" * MANY + ") said on Monday.", "Angela Merkel" + "(" * MANY],
)
def test_a_document_of_many_open_parentheses_extracts_in_a_second_or_two(text: str) -> None:
    extractor = Extractor()
    extractor.extract("Warm up in Paris.")  # the model loads once, outside the timing
    started = time.perf_counter()
    extractor.extract(text)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    "text",
    [
        "The " * 10_000 + "Bank of England said.",
        "Putin" + "'s" * 10_000,
        '"' + 'the "' * 6_000 + "Merkel",
        "Arsenal" + " and" * 10_000,
    ],
)
def test_a_mention_of_thousands_of_repeated_words_is_cleaned_at_once(text: str) -> None:
    """Each rule of strip_edges takes one word off an edge per pass; a mention longer than any name is no name
    (these took 3-13 s to extract, quadratic in their length)."""
    extractor = Extractor()
    extractor.extract("Warm up in Paris.")
    started = time.perf_counter()
    extractor.extract(text)
    strip_edges(text)
    assert time.perf_counter() - started < 2.0
    assert strip_edges(text) == ""


def test_a_long_name_is_still_a_name() -> None:
    name = "Organisation for the Prohibition of Chemical Weapons-United Nations Joint Investigative Mechanism"
    assert strip_edges(f'"{name}",') == name


def test_a_long_text_of_one_line_extracts_in_linear_time() -> None:
    """Each mention's line was judged (table row? capitals?) afresh: a text of one long line cost its length once
    per mention (60,000 characters: 16 s, now about 1 s)."""
    names = ["Paris", "Angela Merkel", "Reuters", "Bank of England", "Moscow", "IBM"]
    words = ["the", "said", "on", "a", "market", "rose", "in", "and", "of", "shares"]
    rng = random.Random(1)
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < 60_000:
        out.append(rng.choice(names) if rng.random() < 0.15 else rng.choice(words))
    extractor = Extractor()
    extractor.extract("Warm up in Paris.")
    started = time.perf_counter()
    found = extractor.extract(" ".join(out))
    assert time.perf_counter() - started < 6.0
    assert {"Paris", "Angela Merkel"} <= {e.name for e in found.entities}


@given(st.lists(st.sampled_from(["1 2 3", "ACME CORP LTD", "Paris said", "\n", " ", "x."]), max_size=30))
def test_each_lines_verdict_is_the_verdict_of_the_line_around_the_position(parts: list[str]) -> None:
    text = "".join(parts)
    lines = news._Lines(text)
    for position in range(len(text) + 1):
        a = text.rfind("\n", 0, position) + 1
        b = text.find("\n", position)
        line = text[a : len(text) if b < 0 else b]
        assert lines.skip(position) == (news.is_capitals_line(line) or news.is_table_line(line))


@pytest.mark.parametrize(
    "unit",
    [
        "The World Health Organization (WHO) met the International Monetary Fund (IMF). ",
        "PARIS, March 3 (Reuters) - ",
    ],
    ids=["acronym definitions", "datelines"],
)
def test_thousands_of_parentheses_on_one_line_extract_in_linear_time(unit: str) -> None:
    """Each parenthesis scanned its line from the start for the words before it, and each mention inside one was
    checked against every definition and mention: 80,000 characters took 5-8 s (quadratic), now about 1.2 s."""
    text = (unit * (80_000 // len(unit) + 1))[:80_000]
    extractor = Extractor()
    extractor.extract("Warm up in Paris.")
    started = time.perf_counter()
    extractor.extract(text)
    assert time.perf_counter() - started < 4.0


_PIECES = ["World", "Health", "Organization", "(WHO)", "(W H O)", "WHO", "(", ")", "\n", " ", ",", "x"]


@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.integers(1, 30))
def test_the_words_before_a_position_are_those_of_its_line(pieces: list[str], count: int) -> None:
    text = " ".join(pieces)
    words = acronyms._WordsBefore(text)
    for position in [i for i, c in enumerate(text) if c == "("] + [len(text)]:
        line_start = text.rfind("\n", 0, position) + 1
        scanned = [(w.group(), w.start()) for w in acronyms._WORD.finditer(text, line_start, position)]
        assert words.last(position, count) == scanned[-count:]


@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 6), st.integers(0, 60), st.integers(1, 8)), max_size=6),
    st.lists(st.tuples(st.integers(-1, 80), st.integers(0, 10)), max_size=12),
)
def test_a_defining_parenthesis_is_found_as_by_a_pass_over_all(
    spans: list[tuple[int, int, int, int]], placed: list[tuple[int, int]]
) -> None:
    """The index of definitions and mentions answers as the pass over every definition and mention it replaced."""
    definitions = [
        AcronymDefinition("X", "x", long_start, long_start + long_len, paren_start, paren_start + paren_len)
        for long_start, long_len, paren_start, paren_len in spans
    ]
    mentions = [RawMention("m", "ORG", start, start + length if start >= 0 else -1) for start, length in placed]
    index = entities._DefiningParentheses(definitions, mentions)

    def by_pass(m: RawMention) -> bool:
        if m.start < 0:
            return False
        for d in definitions:
            if d.paren_start <= m.start and m.end <= d.paren_end:
                return any(o.start < d.long_end and d.long_start < o.end for o in mentions if o is not m)
        return False

    for m in mentions:
        assert index(m) == by_pass(m)
