"""Pure entity rules: cleaning, countries, acronyms and document-level resolution. No spaCy model needed."""

from __future__ import annotations

import re

import pycountry
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from searchsvc.extract.acronyms import acronym_key, find_definitions, known_long_form, match_long_form
from searchsvc.extract.entities import RawMention, resolve_entities
from searchsvc.extract.names import (
    clean_name,
    is_acronym,
    is_calendar_word,
    is_junk,
    split_compound,
    strip_edges,
    strip_titles,
)
from searchsvc.extract.places import canonical_country, is_country
from searchsvc.extract.types import Entity


def mentions_in(text: str, *spans: tuple[str, str]) -> list[RawMention]:
    """RawMentions for each (substring, label), located left to right in `text` like a tagger would."""
    out = []
    pos = 0
    for sub, label in spans:
        start = text.index(sub, pos)
        out.append(RawMention(sub, label, start, start + len(sub)))
        pos = start + len(sub)
    return out


def by_name(entities: tuple[Entity, ...]) -> dict[str, Entity]:
    return {e.name: e for e in entities}


# -- cleaning one mention ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("Putin's", "PERSON", ("Putin", "PERSON")),
        ("Moscow’s", "GPE", ("Moscow", "GPE")),
        ("North Korea’s", "GPE", ("North Korea", "GPE")),
        ("Reuters'", "ORG", ("Reuters", "ORG")),
        ("the United Nations", "ORG", ("United Nations", "ORG")),
        ("The South China Morning Post", "LOC", ("South China Morning Post", "LOC")),
        ("“Reuters,”", "ORG", ("Reuters", "ORG")),
        ("U.S.", "GPE", ("U.S.", "GPE")),
        ("Acme Inc.", "ORG", ("Acme Inc.", "ORG")),
        ("Standard & Poor's", "ORG", ("Standard & Poor's", "ORG")),
        ("McDonald’s", "ORG", ("McDonald's", "ORG")),
        ("President Biden", "PERSON", ("Biden", "PERSON")),
        ("President Joe Biden", "PERSON", ("Joe Biden", "PERSON")),
        ("former President Donald Trump’s", "PERSON", ("Donald Trump", "PERSON")),
        ("Russian Foreign Minister Sergey Lavrov", "PERSON", ("Sergey Lavrov", "PERSON")),
        ("Secretary of State Antony Blinken", "PERSON", ("Antony Blinken", "PERSON")),
        ("Mr. Putin", "PERSON", ("Putin", "PERSON")),
        ("Mr Ebbers", "ORG", ("Ebbers", "PERSON")),  # a personal title makes it a person
        ("Prince", "PERSON", ("Prince", "PERSON")),  # nothing but a title: left alone
        ("Foreign Ministry", "ORG", ("Foreign Ministry", "ORG")),  # titles are only stripped from people
    ],
)
def test_clean_name(text: str, label: str, expected: tuple[str, str]) -> None:
    assert clean_name(text, label) == expected


def test_strip_titles_reports_personal_titles() -> None:
    assert strip_titles("Mr. Putin") == ("Putin", True)
    assert strip_titles("Foreign Minister Wang Yi") == ("Wang Yi", False)
    assert strip_titles("Wang Yi") == ("Wang Yi", False)


@pytest.mark.parametrize(
    "name",
    ["Monday", "Thursday", "Fridays", "March", "Sept.", "42", "1,200", "A", "x", "", "bitcoin", "3.5bn"],
)
def test_junk(name: str) -> None:
    assert is_junk(name)


@pytest.mark.parametrize("name", ["Putin", "G7", "NATO", "U.S.", "iPhone Inc", "BoE", "Sun", "Jan"])
def test_not_junk(name: str) -> None:
    assert not is_junk(name)


def test_is_acronym() -> None:
    assert is_acronym("NATO") and is_acronym("U.S.") and is_acronym("M&S") and is_acronym("BRI")
    assert not is_acronym("Nato") and not is_acronym("Putin") and not is_acronym("G7")


def test_split_compound() -> None:
    text = "the Barack Obama-Hillary Clinton"
    assert [text[a:b] for a, b in split_compound(text)] == ["Barack Obama", "Hillary Clinton"]
    assert split_compound("Coca-Cola") == []
    assert split_compound("Wang-Lavrov") == []
    assert split_compound("Merrill Lynch") == []


# -- countries --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["U.S.", "US", "USA", "U.S.A.", "America", "the United States", "United States of America"]
)
def test_united_states_aliases(name: str) -> None:
    assert canonical_country(name) == "United States"


@pytest.mark.parametrize("name", ["UK", "U.K.", "Britain", "Great Britain", "the United Kingdom"])
def test_united_kingdom_aliases(name: str) -> None:
    assert canonical_country(name) == "United Kingdom"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Russian Federation", "Russia"),
        ("Russia", "Russia"),
        ("Korea, Republic of", "South Korea"),
        ("Iran, Islamic Republic of", "Iran"),
        ("Venezuela, Bolivarian Republic of", "Venezuela"),
        ("Korea, Democratic People's Republic of", "North Korea"),
        ("China", "China"),
        ("People's Republic of China", "China"),
        ("Viet Nam", "Vietnam"),
        ("the Netherlands", "Netherlands"),
    ],
)
def test_official_names_become_common_names(name: str, expected: str) -> None:
    assert canonical_country(name) == expected


@pytest.mark.parametrize("name", ["Alaska", "Beijing", "Moscow", "IT", "CAN", "ARE", "Latin America", "Washington"])
def test_not_countries(name: str) -> None:
    assert not is_country(name)


def test_canonical_country_is_a_fixed_point() -> None:
    for country in pycountry.countries:
        canonical = canonical_country(country.name)
        assert canonical is not None
        assert canonical_country(canonical) == canonical


# -- acronyms ---------------------------------------------------------------------------------------------

NATO_LONG = "North Atlantic Treaty Organization"
ASEAN_LONG = "Association of Southeast Asian Nations"


@pytest.mark.parametrize(
    ("text", "short", "long"),
    [
        ("against the U.S. and the North Atlantic Treaty Organization (NATO).", "NATO", NATO_LONG),
        ("The South China Morning Post (SCMP) quoted", "SCMP", "South China Morning Post"),
        ("China’s Belt and Road Initiative (BRI), which", "BRI", "Belt and Road Initiative"),
        ("the Association of Southeast Asian Nations (ASEAN) met", "ASEAN", ASEAN_LONG),
        ("The Bank of England (BoE) said", "BoE", "Bank of England"),
        ("the Asia-Pacific Economic Cooperation (APEC) forum", "APEC", "Asia-Pacific Economic Cooperation"),
        ("NATO (North Atlantic Treaty Organization) said", "NATO", NATO_LONG),
    ],
)
def test_find_definitions(text: str, short: str, long: str) -> None:
    (d,) = find_definitions(text)
    assert (d.short, d.long) == (short, long)
    assert text[d.long_start : d.long_end] == long


@pytest.mark.parametrize("text", ["He said (Reuters) that", "Gazprom (GAZP) rose", "in Yukos (YUKO.MM)", "(AB)"])
def test_no_false_definitions(text: str) -> None:
    assert find_definitions(text) == []


def test_match_long_form_needs_every_letter() -> None:
    assert match_long_form("NATO", "North Atlantic Treaty Organization".split()) == 0
    assert match_long_form("NATO", "Atlantic Treaty Organization".split()) is None


def test_known_acronyms() -> None:
    assert known_long_form("NATO") == known_long_form("Nato") == "North Atlantic Treaty Organization"
    assert known_long_form("North Atlantic Treaty Organisation") == "North Atlantic Treaty Organization"
    assert known_long_form("U.N.") == "United Nations"
    assert known_long_form("Who") is None and known_long_form("Un") is None
    assert acronym_key("U.N.") == acronym_key("UN") and acronym_key("NGOs") == "NGO"


# -- document-level resolution ----------------------------------------------------------------------------


def test_acronym_defined_in_text_is_one_entity_named_by_its_long_form() -> None:
    text = "Russia opposes the North Atlantic Treaty Organization (NATO). Later, NATO said no."
    ents = by_name(
        resolve_entities(
            mentions_in(
                text,
                ("Russia", "GPE"),
                ("the North Atlantic Treaty Organization", "ORG"),
                ("NATO", "ORG"),
                ("NATO", "ORG"),
            ),
            text,
        )
    )
    # The "(NATO)" of the definition is not a second mention.
    assert ents["North Atlantic Treaty Organization"] == Entity("North Atlantic Treaty Organization", "org", 2)
    assert "NATO" not in ents


def test_acronym_definition_gives_the_long_forms_type() -> None:
    text = "The South China Morning Post (SCMP) reported it. The SCMP added more."
    spans = (("The South China Morning Post", "LOC"), ("SCMP", "ORG"), ("SCMP", "ORG"))
    ents = by_name(resolve_entities(mentions_in(text, *spans), text))
    assert ents == {"South China Morning Post": Entity("South China Morning Post", "org", 2)}


def test_acronym_tagged_person_is_an_organisation() -> None:
    text = "China's Belt and Road Initiative (BRI) grows. Russia fears BRI."
    ents = by_name(resolve_entities(mentions_in(text, ("China", "GPE"), ("BRI", "PERSON"), ("Russia", "GPE")), text))
    assert ents["Belt and Road Initiative"].type == "org"


def test_well_known_acronym_without_definition() -> None:
    text = "NATO met. The North Atlantic Treaty Organisation agreed."
    got = resolve_entities(mentions_in(text, ("NATO", "ORG"), ("The North Atlantic Treaty Organisation", "ORG")), text)
    assert got == (Entity("North Atlantic Treaty Organization", "org", 2),)


def test_possessives_and_titles_resolve_to_the_full_name() -> None:
    text = "President Joe Biden spoke. Biden's aides agreed. Mr. Biden left. President Biden returned."
    got = resolve_entities(
        mentions_in(
            text,
            ("Joe Biden", "PERSON"),
            ("Biden's", "PERSON"),
            ("Mr. Biden", "PERSON"),
            ("President Biden", "ORG"),
        ),
        text,
    )
    assert got == (Entity("Joe Biden", "person", 4),)


def test_short_names_take_the_full_name_and_its_type() -> None:
    text = "Sergey Lavrov met Wang Yi. Lavrov and Wang talked. Lavrov’s visit."
    got = by_name(
        resolve_entities(
            mentions_in(
                text,
                ("Sergey Lavrov", "PERSON"),
                ("Wang Yi", "PERSON"),
                ("Lavrov", "ORG"),  # spaCy often labels a lone surname ORG or GPE
                ("Wang", "GPE"),
                ("Lavrov’s", "PERSON"),
            ),
            text,
        )
    )
    assert got == {
        "Sergey Lavrov": Entity("Sergey Lavrov", "person", 3),
        "Wang Yi": Entity("Wang Yi", "person", 2),  # the family name comes first in Chinese names
    }


def test_short_name_seen_before_the_full_name() -> None:
    text = "Putin spoke. Later Vladimir Putin left."
    got = resolve_entities(mentions_in(text, ("Putin", "PERSON"), ("Vladimir Putin", "PERSON")), text)
    assert got == (Entity("Vladimir Putin", "person", 2),)


def test_ambiguous_short_name_is_dropped() -> None:
    """A bare "Yang" beside "Yang Jin" and "Yang Chuang" is one of them, nobody can say which (issue 18)."""
    text = "Yang Jin said so. Yang Chuang agreed. Yang added more."
    got = by_name(
        resolve_entities(mentions_in(text, ("Yang Jin", "PERSON"), ("Yang Chuang", "PERSON"), ("Yang", "PERSON")), text)
    )
    assert set(got) == {"Yang Jin", "Yang Chuang"}


def test_country_spellings_are_one_place() -> None:
    text = "U.S. troops. The US said. The United States agreed. America's role. USA!"
    got = resolve_entities(
        mentions_in(
            text,
            ("U.S.", "GPE"),
            ("US", "GPE"),
            ("The United States", "GPE"),
            ("America's", "GPE"),
            ("USA", "ORG"),
        ),
        text,
    )
    assert got == (Entity("United States", "place", 5),)


def test_a_country_named_like_a_person_stays_a_country() -> None:
    text = "Michael Jordan visited Jordan."
    got = by_name(resolve_entities(mentions_in(text, ("Michael Jordan", "PERSON"), ("Jordan", "GPE")), text))
    assert got["Jordan"] == Entity("Jordan", "place", 1)


def test_belt_of_belt_and_road_is_not_a_person() -> None:
    text = "China's Belt and Road Initiative (BRI) grew. Peace with Belt and Road. It slowed Belt and Road."
    got = by_name(
        resolve_entities(
            mentions_in(text, ("China", "GPE"), ("Belt", "PERSON"), ("Belt and Road", "FAC")),
            text,
        )
    )
    assert "Belt" not in got


def test_single_word_person_inside_another_phrase_is_dropped() -> None:
    text = "They made peace with Belt and Road. Then Belt and Road slowed."
    got = resolve_entities(mentions_in(text, ("Belt", "PERSON"), ("Belt and Road", "FAC")), text)
    assert got == ()


def test_word_mostly_tagged_as_a_nationality_is_not_a_person() -> None:
    text = "The Welsh won. Welsh fans cheered. Welsh said it was great."
    got = resolve_entities(mentions_in(text, ("Welsh", "NORP"), ("Welsh", "NORP"), ("Welsh", "PERSON")), text)
    assert got == ()


def test_lone_surname_without_other_evidence_is_kept() -> None:
    text = "Biden and Putin met."
    got = by_name(resolve_entities(mentions_in(text, ("Biden", "PERSON"), ("Putin", "PERSON")), text))
    assert set(got) == {"Biden", "Putin"}


def test_weekdays_and_months_are_not_entities_unless_a_name() -> None:
    text = "Monday was busy. Theresa May spoke in March. May said Friday was fine."
    got = by_name(
        resolve_entities(
            mentions_in(
                text,
                ("Monday", "PERSON"),
                ("Theresa May", "PERSON"),
                ("March", "ORG"),
                ("May", "PERSON"),
                ("Friday", "PERSON"),
            ),
            text,
        )
    )
    assert got == {"Theresa May": Entity("Theresa May", "person", 2)}


def test_a_personal_title_vouches_for_a_name_that_looks_like_a_month() -> None:
    text = "Mrs May said so. In May, prices rose. The Sun reported it."
    got = by_name(
        resolve_entities(mentions_in(text, ("Mrs May", "PERSON"), ("May", "PERSON"), ("The Sun", "ORG")), text)
    )
    assert got == {"May": Entity("May", "person", 1), "Sun": Entity("Sun", "org", 1)}


def test_sentence_openers_and_hyphenated_adjectives_are_not_names() -> None:
    text = "Freezing weather hit. Freezing is rare, freezing is cold. State-owned Rosneft bought it."
    got = by_name(
        resolve_entities(mentions_in(text, ("Freezing", "PERSON"), ("State", "ORG"), ("Rosneft", "ORG")), text)
    )
    assert set(got) == {"Rosneft"}


def test_organisation_tail_resolves_to_the_longer_name() -> None:
    text = "The Chinese Foreign Ministry said. The Foreign Ministry added."
    got = resolve_entities(
        mentions_in(text, ("The Chinese Foreign Ministry", "ORG"), ("Foreign Ministry", "ORG")), text
    )
    assert got == (Entity("Chinese Foreign Ministry", "org", 2),)


def test_newspaper_tagged_as_a_place_is_an_organisation() -> None:
    text = "He told the South China Morning Post."
    got = resolve_entities(mentions_in(text, ("the South China Morning Post", "LOC")), text)
    assert got == (Entity("South China Morning Post", "org", 1),)


def test_one_type_per_name_by_majority_and_sorted_output() -> None:
    text = "Yukos fell. Yukos rose. Yukos sold. Alaska. Zeta Corp."
    got = resolve_entities(
        mentions_in(
            text,
            ("Yukos", "ORG"),
            ("Yukos", "PERSON"),
            ("Yukos", "ORG"),
            ("Alaska", "GPE"),
            ("Zeta Corp", "ORG"),
        ),
        text,
    )
    assert got == (
        Entity("Yukos", "org", 3),
        Entity("Zeta Corp", "org", 1),
        Entity("Alaska", "place", 1),
    )


def test_enumerations_split_when_each_part_stands_alone() -> None:
    text = "Gazprom bought it. Rosneft too. Gazprom and Rosneft merged. Marks and Spencer rose."
    spans = (
        ("Gazprom", "ORG"),
        ("Rosneft", "ORG"),
        ("Gazprom and Rosneft", "ORG"),
        ("Marks and Spencer", "ORG"),
    )
    got = by_name(resolve_entities(mentions_in(text, *spans), text))
    assert {n: e.mentions for n, e in got.items()} == {"Gazprom": 2, "Rosneft": 2, "Marks and Spencer": 1}


def test_enumerations_of_countries_split() -> None:
    text = "Plants in the Czech Republic, South Africa and Bosnia and Herzegovina."
    spans = (("the Czech Republic, South Africa", "GPE"), ("Bosnia and Herzegovina", "GPE"))
    got = by_name(resolve_entities(mentions_in(text, *spans), text))
    assert set(got) == {"Czech Republic", "South Africa", "Bosnia and Herzegovina"}


def test_undefined_acronym_joins_the_organisation_it_spells() -> None:
    text = "The National Union of Journalists objected. The NUJ said more. The EC and the European Commission."
    spans = (
        ("The National Union of Journalists", "ORG"),
        ("NUJ", "ORG"),
        ("EC", "ORG"),
        ("the European Commission", "ORG"),
    )
    got = by_name(resolve_entities(mentions_in(text, *spans), text))
    assert {n: e.mentions for n, e in got.items()} == {
        "National Union of Journalists": 2,
        "European Commission": 2,
    }


def test_trailing_connector_is_not_part_of_a_name() -> None:
    assert clean_name("Hard Rock and", "ORG") == ("Hard Rock", "ORG")


def test_a_role_before_the_span_makes_a_person() -> None:
    text = "Chief medical officer Dr. Nadia Petrova said so. The UK's defence secretary, Helen Carver, agreed."
    spans = (("Nadia Petrova", "ORG"), ("UK", "GPE"), ("Helen Carver", "ORG"))
    got = by_name(resolve_entities(mentions_in(text, *spans), text))
    assert got["Nadia Petrova"].type == "person" and got["Helen Carver"].type == "person"


def test_a_company_is_named_by_its_first_word_later() -> None:
    text = "Kuroda Motors said it would invest. Kuroda's shares rose."
    got = resolve_entities(mentions_in(text, ("Kuroda Motors", "ORG"), ("Kuroda's", "PERSON")), text)
    assert got == (Entity("Kuroda Motors", "org", 2),)


def test_org_whose_last_word_is_used_for_a_person_is_that_person() -> None:
    text = "Britain's Ellie Marsh won the race. Marsh, who rides for Northern Velo, crashed in May."
    spans = (("Britain", "GPE"), ("Ellie Marsh", "ORG"), ("Marsh", "PERSON"))
    got = by_name(resolve_entities(mentions_in(text, *spans), text))
    assert got["Ellie Marsh"] == Entity("Ellie Marsh", "person", 2)


@pytest.mark.parametrize(
    ("text", "name", "label"),
    [
        ("Officials will meet on Monday in Darwin to plan it.", "Darwin", "PERSON"),
        ("The drills take place near the island of Jeju in June.", "Jeju", "PERSON"),
        ("The Oslo-based company said so.", "Oslo", "ORG"),
        ("The Munich-based company said so.", "Munich", "GPE"),
    ],
)
def test_context_makes_a_place(text: str, name: str, label: str) -> None:
    assert resolve_entities(mentions_in(text, (name, label)), text) == (Entity(name, "place", 1),)


def test_the_office_in_a_title_is_not_an_entity() -> None:
    text = "Secretary of State Antony Blinken met officials from the state of Illinois."
    spans = (("State", "ORG"), ("Antony Blinken", "PERSON"), ("Illinois", "GPE"))
    got = by_name(resolve_entities(mentions_in(text, *spans), text))
    assert set(got) == {"Antony Blinken", "Illinois"}


def test_norp_fac_and_other_labels_are_not_entities() -> None:
    text = "Russian officials visited the Kremlin on Monday."
    got = resolve_entities(mentions_in(text, ("Russian", "NORP"), ("the Kremlin", "FAC"), ("Monday", "DATE")), text)
    assert got == ()


def test_works_without_offsets_or_text() -> None:
    got = resolve_entities([RawMention("Sergey Lavrov", "PERSON"), RawMention("Lavrov", "ORG")])
    assert got == (Entity("Sergey Lavrov", "person", 2),)


# -- properties -------------------------------------------------------------------------------------------

_LABELS = st.sampled_from(["PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "DATE"])
_WORDS = st.sampled_from(
    ["the", "The", "U.S.", "US", "Putin", "Vladimir", "Putin’s", "President", "Mr.", "Monday", "NATO", "Bank",
     "of", "and", "Belt", "Road", "China", "“", "”", "'s", "Wang", "Yi", "42", "A", "Post", "Morning"]
)  # fmt: skip
_NAMES = st.lists(_WORDS, min_size=1, max_size=4).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NAMES, _LABELS), max_size=12))
@example([("U.S. and U.S.", "PERSON")])  # found by a fresh CI run: an enumeration split into two mentions
def test_resolution_invariants(spans: list[tuple[str, str]]) -> None:
    text = " ".join(f"{name}." for name, _ in spans)
    mentions = []
    pos = 0
    for name, label in spans:
        start = text.index(name, pos)
        mentions.append(RawMention(name, label, start, start + len(name)))
        pos = start + len(name)
    entities = resolve_entities(mentions, text)
    names = [e.name for e in entities]
    assert len(names) == len(set(names))
    assert list(entities) == sorted(entities, key=lambda e: (e.type, e.name))
    # A span that enumerates names ("U.S. and China") counts once per name it is split into.
    assert sum(e.mentions for e in entities) <= sum(len(re.split(r"\s*(?:,|\band\b|&)\s*", m.text)) for m in mentions)
    for e in entities:
        assert e.mentions >= 1 and e.type in ("person", "org", "place")
        assert e.name and e.name == e.name.strip()
        assert not e.name.lower().startswith("the ")
        assert not e.name.endswith(("'s", "’s"))
        assert not is_junk(e.name) or is_calendar_word(e.name)  # "President Monday" vouches for it


@given(st.text(max_size=40))
def test_strip_edges_is_idempotent(text: str) -> None:
    once = strip_edges(text)
    assert strip_edges(once) == once


# -- rules judged on the public NER sets (GMB, WikiGold) as well as the gold set ----------------------------


def test_a_qualifying_word_before_a_name_introduces_no_person() -> None:
    text = "Kazakhstan is the largest of the former Soviet Union republics; he was auditor of former King County."
    found = by_name(resolve_entities(mentions_in(text, ("Soviet Union", "GPE"), ("King County", "GPE")), text))
    assert found["Soviet Union"].type == "place"
    assert found["King County"].type == "place"


def test_a_person_span_ending_in_an_institution_word_is_that_institution() -> None:
    text = "Bishop Garrigan High School is a private school in Algona."
    found = by_name(resolve_entities(mentions_in(text, ("Bishop Garrigan High School", "PERSON")), text))
    assert found["Bishop Garrigan High School"].type == "org"


def test_a_strain_code_tagged_person_is_no_name() -> None:
    text = "Officials do not know if the birds had the H5N1 strain, said Dr Ann Lee."
    found = by_name(resolve_entities(mentions_in(text, ("H5N1", "PERSON"), ("Ann Lee", "PERSON")), text))
    assert set(found) == {"Ann Lee"}


def test_a_lone_word_the_document_calls_a_place_stays_a_place() -> None:
    # Tagged PERSON twice and GPE once, with no full name or title to vouch for a person.
    text = "Lines run east to Bedhampton. The nearest station is Bedhampton, near Bedhampton and Havant."
    spans = (("Bedhampton", "GPE"), ("Bedhampton", "PERSON"), ("Bedhampton", "PERSON"))
    assert by_name(resolve_entities(mentions_in(text, *spans), text))["Bedhampton"].type == "place"
    # ...and is not swallowed by a multi-word "person" that starts with it, when it is more often a place.
    text = "Electric Avenue in Brixton gets its name from Brixton Market, the pride of Brixton."
    spans = (("Brixton", "GPE"), ("Brixton Market", "PERSON"), ("Brixton", "GPE"))
    assert by_name(resolve_entities(mentions_in(text, *spans), text))["Brixton"].type == "place"


def test_a_place_noun_of_a_name_is_a_place_whatever_the_tag() -> None:
    text = "The Island of Divar lies in the Mandovi river."
    assert by_name(resolve_entities(mentions_in(text, ("Island of Divar", "ORG")), text))["Island of Divar"].type == (
        "place"
    )
