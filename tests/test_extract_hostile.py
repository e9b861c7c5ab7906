"""Extraction stays linear on hostile text: parentheses that never close, or close after thousands of opens."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from searchsvc.extract import Extractor, news
from searchsvc.extract.names import drop_open_paren, strip_edges

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
