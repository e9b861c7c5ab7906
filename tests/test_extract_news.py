"""News-wire conventions (extract/news.py), through resolve_entities: plain mentions, no model (issue 18)."""

from __future__ import annotations

import pytest

from searchsvc.extract.entities import resolve_entities
from searchsvc.extract.news import document_sources, find_dateline, is_table_line, without_source
from searchsvc.extract.types import Entity, Extraction, RawMention


def mentions_in(text: str, *spans: tuple[str, str]) -> list[RawMention]:
    out, pos = [], 0
    for sub, label in spans:
        start = text.index(sub, pos)
        out.append(RawMention(sub, label, start, start + len(sub)))
        pos = start + len(sub)
    return out


def names(text: str, *spans: tuple[str, str]) -> set[tuple[str, str]]:
    return {(e.type, e.name) for e in resolve_entities(mentions_in(text, *spans), text)}


@pytest.mark.parametrize(
    ("text", "tagged", "place"),
    [
        ("BOMBAY, March 3 - Prices rose.", "BOMBAY", "Bombay"),
        ("NEW YORK, Feb 26 - Shares fell.", "NEW YORK", "New York"),
        ("WASHINGTON (Reuters) - The talks ended.", "WASHINGTON", "Washington"),
        ("Rates cut\n\nLONDON (Reuters) - The bank cut rates.", "LONDON", "London"),
    ],
)
def test_a_dateline_gives_a_place_not_an_organisation(text: str, tagged: str, place: str) -> None:
    assert names(text, (tagged, "ORG")) == {("place", place)}
    assert names(text) == {("place", place)}  # untagged, the dateline still names it


def test_the_wire_of_the_dateline_and_its_signature_are_no_mentions() -> None:
    text = "WASHINGTON (Reuters) - Baker told Reuters the dollar was stable.\n Reuter\n"
    assert document_sources(text) == {"reuter"}
    got = names(text, ("Reuters", "ORG"), ("Reuters", "ORG"), ("Reuter", "ORG"))
    assert got == {("place", "Washington")}
    assert find_dateline("Reuters said the dollar fell.") is None


def test_the_source_field_is_no_organisation_mention() -> None:
    extraction = Extraction(entities=(Entity("Reuters", "org", 2), Entity("Baker", "person", 1)))
    assert [e.name for e in without_source(extraction, "reuters").entities] == ["Baker"]
    assert without_source(extraction, None) is extraction


@pytest.mark.parametrize(
    "text",
    ["REAGAN RENEWS ANTI-PROTECTIONISM", "BANKAMERICA SEES DIVIDEND\n\nNothing else."],
)
def test_text_in_capitals_gives_no_names(text: str) -> None:
    first = text.split()[0]
    assert names(text, (first, "PERSON")) == set()


@pytest.mark.parametrize(
    ("line", "table"),
    [
        ("Shr 12 cts vs 10 cts", True),
        ("Avg shrs 12.3 mln vs 11.1 mln", True),
        ("Revs 1.2 billion dlrs vs 980 mln", True),
        ("President Reagan met Prime Minister Nakasone in 1987 to discuss trade.", False),
        ("Kojima Minoru (born 12 May 1965) is a guitarist.", False),
    ],
)
def test_rows_of_figures_are_tables(line: str, table: bool) -> None:
    assert is_table_line(line) is table


def test_table_labels_currencies_and_legal_forms_are_no_entities() -> None:
    text = "Acme said on Monday.\n Avg shrs 12.3 mln vs 11.1 mln\n It paid 50 mln U.S. Dlrs to Co Inc holders."
    got = names(text, ("Acme", "ORG"), ("Avg", "PERSON"), ("U.S. Dlrs", "ORG"), ("Co Inc", "ORG"))
    assert got == {("org", "Acme")}


def test_a_name_cut_at_a_comma_is_completed_or_dropped() -> None:
    text = "He works at the Institute of Russian, Eastern European and Central Asian Studies at the academy."
    assert names(text, ("Institute of Russian", "ORG")) == {
        ("org", "Institute of Russian, Eastern European and Central Asian Studies")
    }
    cut = "He works at the Institute of Russian, which is small."
    assert names(cut, ("Institute of Russian", "ORG")) == set()


def test_a_name_cut_at_an_ampersand_takes_back_its_first_word() -> None:
    text = "Standard & Poor's Corp lowered the rating."
    assert names(text, ("Poor's Corp", "ORG")) == {("org", "Standard & Poor's Corp")}


def test_an_institution_named_by_its_field_before_a_role_is_a_cut_name() -> None:
    text = "Retired China Foreign Affairs professor Yang Chuang spoke."
    assert names(text, ("China Foreign Affairs", "ORG")) == set()
    text = "A London School of Economics professor spoke."
    assert names(text, ("London School of Economics", "ORG")) == {("org", "London School of Economics")}


def test_standard_and_poors_is_one_name_but_two_companies_joined_by_and_stay_two() -> None:
    text = "Standard and Poor's Corp lowered the rating."
    assert names(text, ("Poor's Corp", "ORG")) == {("org", "Standard and Poor's Corp")}
    text = "Ford and General Motors raised prices."
    assert names(text, ("Ford", "ORG"), ("General Motors", "ORG")) == {("org", "Ford"), ("org", "General Motors")}


def test_a_dateline_inside_a_digest_is_a_place_and_not_part_of_the_name() -> None:
    text = "Bond traders said. (NRAL 2258)\n    WASHINGTON - Federal Reserve Board Chairman Alan Greenspan spoke."
    found = names(text, ("WASHINGTON - Federal Reserve Board", "ORG"), ("Alan Greenspan", "PERSON"))
    assert found == {("place", "Washington"), ("org", "Federal Reserve Board"), ("person", "Alan Greenspan")}
