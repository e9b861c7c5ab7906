"""The spaCy-backed Extractor, end to end. The model is loaded once for the whole session."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path
from typing import Any

import pytest

from searchsvc.extract import Entity, Extraction, Extractor, ExtractorError, MentionedDate, pipeline
from searchsvc.extract.names import MONTHS, WEEKDAYS

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_453fa8f07bc740fc.txt"
SEED_PUBLISHED = dt.date(2021, 3, 19)  # a Friday


@pytest.fixture(scope="session")
def extractor() -> Extractor:
    return Extractor()


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed(extractor: Extractor, seed_text: str) -> Extraction:
    return extractor.extract(seed_text, SEED_PUBLISHED)


def names(extraction: Extraction, etype: str) -> set[str]:
    return {e.name for e in extraction.entities if e.type == etype}


def values(extraction: Extraction) -> set[str]:
    return {d.value for d in extraction.dates}


# -- the seed article --------------------------------------------------------------------------------------


def test_seed_people(seed: Extraction) -> None:
    expected = {
        "Sergey Lavrov",
        "Wang Yi",
        "Vladimir Putin",
        "Joe Biden",
        "Donald Trump",
        "Barack Obama",
        "Hillary Clinton",
        "Nicolás Maduro",
    }
    assert expected <= names(seed, "person")


def test_seed_places(seed: Extraction) -> None:
    expected = {"China", "Russia", "United States", "Alaska", "Beijing", "Moscow", "Venezuela"}
    assert expected <= names(seed, "place")


def test_seed_organisations(seed: Extraction) -> None:
    assert {"North Atlantic Treaty Organization", "South China Morning Post"} <= names(seed, "org")


def test_seed_has_no_junk_people(seed: Extraction) -> None:
    people = {n.lower() for n in names(seed, "person")}
    assert not people & (WEEKDAYS | MONTHS)
    assert "belt" not in people and "bri" not in people
    assert all(e.name not in ("NATO", "SCMP", "U.S.", "US") for e in seed.entities)


def test_seed_short_names_count_towards_full_names(seed: Extraction) -> None:
    by_name = {e.name: e for e in seed.entities}
    assert by_name["Sergey Lavrov"].mentions >= 3  # "Sergey Lavrov", "Lavrov", "Lavrov’s"
    assert by_name["Wang Yi"].mentions >= 2
    assert by_name["Vladimir Putin"].mentions >= 5
    assert by_name["United States"].mentions >= 7  # U.S., US and the United States
    assert "Lavrov" not in by_name and "Putin" not in by_name and "Wang" not in by_name


def test_seed_entities_are_sorted_and_unique(seed: Extraction) -> None:
    assert list(seed.entities) == sorted(seed.entities, key=lambda e: (e.type, e.name))
    assert len({e.name for e in seed.entities}) == len(seed.entities)


def test_seed_dates_with_publication_date(seed: Extraction) -> None:
    assert {"2021-03-18", "2021-03-19", "2021-03-22"} <= values(seed)
    by_value = {d.value: d for d in seed.dates}
    assert by_value["2021-03-18"].text == "Thursday"  # announced Thursday
    assert by_value["2021-03-22"].text == "on Monday"  # will visit China on Monday
    assert by_value["2021-03-19"].text == "on Friday"  # told the Post on Friday
    assert by_value["2021-W12"].precision == "week"  # Lavrov's visit next week
    assert list(seed.dates) == sorted(seed.dates, key=lambda d: d.start)


def test_seed_dates_without_publication_date(extractor: Extractor, seed_text: str) -> None:
    got = extractor.extract(seed_text)
    assert not {"2021-03-18", "2021-03-19", "2021-03-22"} & values(got)
    assert got.entities == extractor.extract(seed_text, SEED_PUBLISHED).entities


# -- hard cases through the model --------------------------------------------------------------------------


def test_titles_and_possessives(extractor: Extractor) -> None:
    got = extractor.extract(
        "President Joe Biden met Vladimir Putin. President Biden said Putin's offer was late. Mr. Putin left."
    )
    assert got.entities == (Entity("Joe Biden", "person", 2), Entity("Vladimir Putin", "person", 3))


def test_united_states_spellings_are_one_entity(extractor: Extractor) -> None:
    got = extractor.extract("U.S. officials met in Geneva. The US said the United States would not back down.")
    assert Entity("United States", "place", 3) in got.entities


def test_acronym_defined_in_text(extractor: Extractor) -> None:
    got = extractor.extract("The North Atlantic Treaty Organization (NATO) met in Brussels. NATO said it was ready.")
    assert Entity("North Atlantic Treaty Organization", "org", 2) in got.entities


@pytest.mark.parametrize(
    ("text", "published", "expected"),
    [
        ("The ministry announced Thursday that Lavrov will visit China on Monday.", SEED_PUBLISHED,
         {"2021-03-18", "2021-03-22"}),
        ("Officials said the talks would resume next week.", SEED_PUBLISHED, {"2021-W12"}),
        ("Sales rose 5% last year, the company said.", SEED_PUBLISHED, {"2020"}),
        ("The figures for January were revised.", SEED_PUBLISHED, {"2021-01"}),
        ("The plant opened in 2004.", SEED_PUBLISHED, {"2004"}),
        ("The bill must be paid by 3/22, the agency said.", SEED_PUBLISHED, {"2021-03-22"}),
        ("The conference will be held March 1-5 in Vienna.", dt.date(2021, 2, 20), {"2021-03-01"}),
        ("The conference was held on March 18, 2021 in Vienna.", None, {"2021-03-18"}),
        ("Officials may meet again. He asked for a second opinion. Now the talks are over.", SEED_PUBLISHED,
         set()),
        ("The talks lasted two years. The 50-year-old minister served for three weeks.", SEED_PUBLISHED,
         set()),
        ("The ministry announced Thursday that Lavrov will visit China on Monday.", None, set()),
    ],
)  # fmt: skip
def test_dates_in_sentences(extractor: Extractor, text: str, published: dt.date | None, expected: set[str]) -> None:
    assert values(extractor.extract(text, published)) == expected


def test_a_month_that_is_a_persons_name_is_not_a_date(extractor: Extractor) -> None:
    text = (
        "Prime Minister Theresa May will meet Labour Party leader Jeremy Corbyn on Tuesday for a second "
        "round of talks on Brexit, Downing Street said. May has promised to put her withdrawal agreement "
        "to a vote in Parliament in early June."
    )
    got = extractor.extract(text, dt.date(2019, 5, 13))
    assert values(got) == {"2019-05-14", "2019-06"}  # spaCy tags the second "May" DATE
    assert Entity("Theresa May", "person", 2) in got.entities


def test_time_spans_that_name_a_day(extractor: Extractor) -> None:
    text = "The Commanders handed the Eagles their first loss of the season on Monday night."
    assert values(extractor.extract(text, dt.date(2022, 11, 15))) == {"2022-11-14"}


def test_datetime_publication(extractor: Extractor) -> None:
    got = extractor.extract("Shares fell on Wednesday.", dt.datetime(2021, 3, 19, 8, 30))
    assert got.dates == (
        MentionedDate("2021-03-17", "day", dt.date(2021, 3, 17), dt.date(2021, 3, 17), "on Wednesday"),
    )


# -- the API -----------------------------------------------------------------------------------------------


def test_extract_many_matches_extract(extractor: Extractor, seed_text: str) -> None:
    items: list[tuple[str, dt.date | dt.datetime | None]] = [
        (seed_text, SEED_PUBLISHED),
        ("", None),
        ("Shares in Gazprom fell on Tuesday, Reuters reported.", dt.date(2021, 3, 19)),
        (seed_text, None),
        ("NATO met. President Biden spoke on Monday.", dt.datetime(2021, 3, 17, 12)),
    ]
    one_by_one = [extractor.extract(text, published) for text, published in items]
    assert list(extractor.extract_many(items, batch_size=2)) == one_by_one
    assert list(extractor.extract_many(iter(items))) == one_by_one


def test_empty_text(extractor: Extractor) -> None:
    assert extractor.extract("") == Extraction((), ())
    assert extractor.extract("   \n ", SEED_PUBLISHED) == Extraction((), ())


def test_long_texts_are_cut_into_pieces(extractor: Extractor, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join(["Vladimir Putin met officials in Moscow on Monday."] * 6 + ["Putin left."])
    whole = extractor.extract(text, SEED_PUBLISHED)
    monkeypatch.setattr(pipeline, "MAX_PIECE_CHARS", 120)
    assert pipeline._split_text(text, 120)[1][0] > 0
    assert extractor.extract(text, SEED_PUBLISHED) == whole
    assert Entity("Vladimir Putin", "person", 7) in whole.entities


def test_split_text_keeps_every_character() -> None:
    text = ("word " * 50 + "\n") * 20
    pieces = pipeline._split_text(text, 300)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 300 and text[o : o + len(p)] == p for o, p in pieces)


def test_names_and_dates_wrapped_across_lines_are_found_whole(extractor: Extractor) -> None:
    """A wire story wraps its lines (and indents its paragraphs); a name or date cut by a wrap is one mention."""
    text = (
        "Regulators said the filing with the Securities and\n"
        "Exchange Commission was made by Peninsula Federal Savings and\n"
        "Loan Association, and that the chairman would testify on\n"
        "Monday.\n"
        "    Shr 22 cts vs 19 cts\n"
        "    Net 1,234,000 vs 987,000\n"
    )
    extraction = extractor.extract(text, SEED_PUBLISHED)
    assert {"Securities and Exchange Commission", "Peninsula Federal Savings and Loan Association"} <= names(
        extraction, "org"
    )
    assert [(d.value, d.text) for d in extraction.dates] == [("2021-03-22", "on\nMonday")]  # as written


@pytest.mark.parametrize(
    ("text", "squeezed"),
    [
        ("a b", "a b"),
        ("on\nmonday  we", "on monday we"),  # the next line goes on in lower case: a wrap
        ("Shr 22 cts\n  Net 14 cts\n", "Shr 22 cts\nNet 14 cts\n"),  # short lines: rows of a table
        (("x" * 60) + "\nNext", ("x" * 60) + " Next"),  # a long line: a wrap
        ("Title\n\n  \nBody", "Title\n\nBody"),  # a blank line stays
        ("\t", " "),
        ("Wow!!!!!!!!!! Paris", "Wow!!! Paris"),  # a run of punctuation keeps its first three
        ("a=*!?=*!?=*!?b", "a=*!b"),
        ("x" + "'s" * 40, ("x" + "'s" * 40)[:64] + " " + ("x" + "'s" * 40)[64:]),  # a long word is cut
        ("see " + "y" * 130 + " now", "see " + "y" * 64 + " " + "y" * 64 + " yy now"),
        ("!!!!!!!!" + "x's" * 30, ("!!!" + "x's" * 30)[:64] + " " + ("!!!" + "x's" * 30)[64:]),
    ],
)
def test_white_space_is_squeezed_and_mapped_back(text: str, squeezed: str) -> None:
    out, where = pipeline._squeeze(text)
    assert out == squeezed
    positions = [where(i) for i in range(len(out))]
    assert positions == sorted(positions)
    copied = [p for p, c in zip(positions, out, strict=True) if not c.isspace()]
    assert len(copied) == len(set(copied)) and all(
        text[p] == c for p, c in zip(positions, out, strict=True) if not c.isspace()
    )


@pytest.mark.parametrize(
    "text",
    [
        "!" * 20_000 + "x",  # the body that killed a gunicorn worker: two minutes in the tokenizer
        "(" * 20_000 + "x",
        "x" + "'s" * 10_000,  # 2.6 s at 2,000 before the fix, so a minute at 10,000
        "Paris " + "=*" * 10_000,
    ],
)
def test_pathological_punctuation_is_tokenized_in_linear_time(extractor: Extractor, text: str) -> None:
    """What the tokenizer is given has no run of punctuation and no word long enough for its prefix and
    suffix search (quadratic in a word's length) to hold the GIL: a worker would miss its heartbeat."""
    started = time.perf_counter()
    extractor.extract(text)
    # Quadratic took 2.6 s to two minutes on these; linear takes about a second under load: no flake at 10.
    assert time.perf_counter() - started < 10.0
    squeezed, _ = pipeline._squeeze(text)
    assert max(len(word) for word in squeezed.split()) <= pipeline.MAX_WORD_CHARS


def test_entities_after_squeezed_punctuation_keep_their_offsets(
    extractor: Extractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[pipeline.RawMention] = []
    real = pipeline.resolve_entities

    def spy(mentions: list[pipeline.RawMention], text: str) -> Any:
        seen.extend(mentions)
        return real(mentions, text)

    monkeypatch.setattr(pipeline, "resolve_entities", spy)
    text = "!" * 5_000 + " Barack Obama met Angela Merkel in Berlin. " + "x" * 300 + " Emmanuel Macron spoke."
    names = {e.name for e in extractor.extract(text).entities}
    assert {"Barack Obama", "Emmanuel Macron"} <= names
    assert seen and all(text[m.start : m.end] == m.text for m in seen)


def test_missing_model_raises_extractor_error() -> None:
    with pytest.raises(ExtractorError, match="not installed"):
        Extractor("no_such_spacy_model_xyz")


def test_pipes_not_needed_are_not_run(extractor: Extractor) -> None:
    assert "lemmatizer" not in extractor.nlp.pipe_names
    assert "attribute_ruler" not in extractor.nlp.pipe_names


def test_extractor_pickles(extractor: Extractor) -> None:
    clone = pickle.loads(pickle.dumps(extractor))
    assert clone.model == extractor.model
    text = "Sergey Lavrov will visit China on Monday."
    assert clone.extract(text, SEED_PUBLISHED) == extractor.extract(text, SEED_PUBLISHED)
