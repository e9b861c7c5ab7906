"""Pure date rules: expression + tense + publication date -> MentionedDate; tense from a parse. No model."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.extract.dates import depends_on_tense, resolve_date
from searchsvc.extract.tense import Token, infer_tense, sentence_bounds
from searchsvc.extract.types import MentionedDate

FRIDAY = dt.date(2021, 3, 19)  # publication date of the seed article


def value(expr: str, published: dt.date | dt.datetime | None = FRIDAY, tense: str | None = None) -> str | None:
    got = resolve_date(expr, published, tense)  # type: ignore[arg-type]
    return got.value if got else None


# -- weekdays and tense ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "tense", "expected"),
    [
        ("Thursday", "past", "2021-03-18"),  # "announced Thursday": the most recent past Thursday
        ("Monday", "future", "2021-03-22"),  # "will visit China on Monday": the coming Monday
        ("on Monday", "future", "2021-03-22"),
        ("Friday", "past", "2021-03-19"),  # "told the Post on Friday": the publication day itself
        ("Friday", "future", "2021-03-19"),
        ("Monday", "past", "2021-03-15"),
        ("Thursday", "future", "2021-03-25"),
        ("Thursday", None, "2021-03-18"),  # no tense: the nearest
        ("Monday", None, "2021-03-22"),
        ("Monday", "present", "2021-03-22"),
        ("last Friday", "future", "2021-03-12"),  # the expression's own direction wins
        ("next Friday", "past", "2021-03-26"),
        ("next Monday", None, "2021-03-22"),
        ("Monday morning", "past", "2021-03-15"),
        ("Monday's", "past", "2021-03-15"),
    ],
)
def test_weekdays_follow_the_tense(expr: str, tense: str | None, expected: str) -> None:
    assert value(expr, FRIDAY, tense) == expected


def test_datetime_publication_is_accepted() -> None:
    assert value("Thursday", dt.datetime(2021, 3, 19, 23, 59), "past") == "2021-03-18"


# -- relative expressions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected", "precision"),
    [
        ("next week", "2021-W12", "week"),
        ("this week", "2021-W11", "week"),
        ("last week", "2021-W10", "week"),
        ("last year", "2020", "year"),
        ("Last year's", "2020", "year"),
        ("this year", "2021", "year"),
        ("later this year", "2021", "year"),
        ("next year", "2022", "year"),
        ("this month", "2021-03", "month"),
        ("Earlier this month", "2021-03", "month"),
        ("last month", "2021-02", "month"),
        ("next month", "2021-04", "month"),
        ("yesterday", "2021-03-18", "day"),
        ("today", "2021-03-19", "day"),
        ("tomorrow", "2021-03-20", "day"),
        ("three days ago", "2021-03-16", "day"),
        ("a year ago", "2020", "year"),
        ("October last year", "2020-10", "month"),
        ("last March", "2020-03", "month"),
        ("next March", "2022-03", "month"),
    ],
)
def test_relative_expressions(expr: str, expected: str, precision: str) -> None:
    got = resolve_date(expr, FRIDAY)
    assert got is not None
    assert (got.value, got.precision, got.text) == (expected, precision, expr)


def test_next_week_covers_monday_to_sunday() -> None:
    assert resolve_date("next week", FRIDAY) == MentionedDate(
        "2021-W12", "week", dt.date(2021, 3, 22), dt.date(2021, 3, 28), "next week"
    )


def test_iso_week_year_at_a_year_boundary() -> None:
    assert value("this week", dt.date(2021, 1, 1)) == "2020-W53"
    assert value("next week", dt.date(2024, 12, 28)) == "2025-W01"


@pytest.mark.parametrize(
    ("expr", "tense", "expected"),
    [
        ("March", "past", "2021-03"),
        ("January", "past", "2021-01"),
        ("December", "past", "2020-12"),
        ("December", "future", "2021-12"),
        ("January", "future", "2022-01"),
        ("in May", "future", "2021-05"),
        ("December", None, "2020-12"),  # the nearest December
        ("May", None, "2021-05"),
        ("mid-March", None, "2021-03"),
        ("late December", "past", "2020-12"),
    ],
)
def test_month_without_year(expr: str, tense: str | None, expected: str) -> None:
    assert value(expr, FRIDAY, tense) == expected


def test_month_covers_its_days() -> None:
    got = resolve_date("February", dt.date(2024, 3, 1), "past")
    assert got is not None and (got.start, got.end) == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))


@pytest.mark.parametrize(
    ("expr", "tense", "expected"),
    [
        ("3/22", "future", "2021-03-22"),
        ("3/22", None, "2021-03-22"),
        ("3/22", "past", "2020-03-22"),
        ("22/3", None, "2021-03-22"),  # can only be day/month
        ("3/22/2021", None, "2021-03-22"),
        ("3/22/21", None, "2021-03-22"),
        ("March 22-25", "future", "2021-03-22"),  # a range resolves to its start
        ("March 1-5", None, "2021-03-01"),
        ("1-5 March", None, "2021-03-01"),
        ("March 18", "past", "2021-03-18"),
        ("18 March", None, "2021-03-18"),
        ("Dec. 4", "past", "2020-12-04"),
        ("on 2 February", None, "2021-02-02"),
    ],
)
def test_days_without_year(expr: str, tense: str | None, expected: str) -> None:
    assert value(expr, FRIDAY, tense) == expected


# -- explicit dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected", "precision"),
    [
        ("March 18, 2021", "2021-03-18", "day"),
        ("18 March 2021", "2021-03-18", "day"),
        ("Monday, March 22, 2021", "2021-03-22", "day"),
        ("2021-03-15", "2021-03-15", "day"),
        ("March 1-5, 2021", "2021-03-01", "day"),
        ("15 December, 1953", "1953-12-15", "day"),
        ("22.03.2021", "2021-03-22", "day"),
        ("March 2021", "2021-03", "month"),
        ("December 2004", "2004-12", "month"),
        ("2021", "2021", "year"),
        ("in 2004", "2004", "year"),
        ("the end of 2003", "2003", "year"),
        ("early 2002", "2002", "year"),
        ("2003-04", "2003", "year"),
        ("the three months to 31 December 2004", "2004-12-31", "day"),
        ("the year to March 2005", "2005-03", "month"),
        ("the fourth quarter of 2004", "2004", "year"),
    ],
)
def test_explicit_dates_need_no_publication_date(expr: str, expected: str, precision: str) -> None:
    for published in (None, FRIDAY):
        got = resolve_date(expr, published)
        assert got is not None, expr
        assert (got.value, got.precision) == (expected, precision)


@pytest.mark.parametrize(
    "expr",
    ["Thursday", "on Monday", "next week", "last year", "this month", "yesterday", "March", "3/22",
     "March 1-5", "18 March", "a year ago", "October last year"],
)  # fmt: skip
def test_relative_dates_without_publication_date_are_left_out(expr: str) -> None:
    assert resolve_date(expr, None, "past") is None
    assert resolve_date(expr, None, None) is None


@pytest.mark.parametrize(
    "expr",
    ["may", "a second", "now", "second", "two years", "for three weeks", "three months",
     "the past five years", "50-year-old", "five-year", "the 1990s", "the late 1990s", "1990s",
     "recent years", "the year", "years", "annual", "quarterly", "the fourth quarter", "42", "1.4bn",
     "1405", "the 19th Century", "a year earlier", "85 years", "20 years old", "", "  ", "march",
     "the week", "the weekend"],
)  # fmt: skip
def test_not_dates(expr: str) -> None:
    assert resolve_date(expr, FRIDAY, "past") is None
    assert resolve_date(expr, FRIDAY, "future") is None


def test_impossible_days_are_not_dates() -> None:
    assert resolve_date("31 February", FRIDAY) is None
    assert resolve_date("2021-02-30") is None
    assert resolve_date("13/13") is None


def test_depends_on_tense() -> None:
    assert depends_on_tense("Monday", FRIDAY)
    assert depends_on_tense("December", FRIDAY)
    assert not depends_on_tense("next week", FRIDAY)
    assert not depends_on_tense("2021", FRIDAY)
    assert not depends_on_tense("Friday", FRIDAY)  # the publication weekday: same day either way


# -- tense from a parse ------------------------------------------------------------------------------------


def parse(spec: str) -> list[Token]:
    """Tokens from "text/TAG/dep/head" items separated by spaces."""
    out = []
    for item in spec.split():
        text, tag, dep, head = item.split("/")
        out.append(Token(text, tag, dep, int(head)))
    return out


# The Chinese Foreign Ministry announced Thursday that Lavrov will visit China on Monday .
SEED = parse(
    "The/DT/det/3 Ministry/NNP/nsubj/2 announced/VBD/ROOT/2 Thursday/NNP/npadvmod/2 that/IN/mark/7 "
    "Lavrov/NNP/nsubj/7 will/MD/aux/7 visit/VB/ccomp/2 China/NNP/dobj/7 on/IN/prep/7 Monday/NNP/pobj/9 "
    "./././2"
)


def test_tense_of_the_seed_sentence() -> None:
    assert infer_tense(SEED, 3, 4) == "past"  # announced Thursday
    assert infer_tense(SEED, 10, 11) == "future"  # will visit ... on Monday


@pytest.mark.parametrize(
    ("spec", "date_index", "expected"),
    [
        # Lavrov is to visit Beijing on Monday
        ("Lavrov/NNP/nsubj/1 is/VBZ/ROOT/1 to/TO/aux/3 visit/VB/xcomp/1 Beijing/NNP/dobj/3 on/IN/prep/3 "
         "Monday/NNP/pobj/5", 6, "future"),
        # The minister plans to travel on Tuesday
        ("minister/NN/nsubj/1 plans/VBZ/ROOT/1 to/TO/aux/3 travel/VB/xcomp/1 on/IN/prep/3 Tuesday/NNP/pobj/4",
         5, "future"),
        # The deal was signed on Monday
        ("deal/NN/nsubjpass/2 was/VBD/auxpass/2 signed/VBN/ROOT/2 on/IN/prep/2 Monday/NNP/pobj/3", 4, "past"),
        # The deal has been signed on Monday
        ("deal/NN/nsubjpass/3 has/VBZ/aux/3 been/VBN/auxpass/3 signed/VBN/ROOT/3 on/IN/prep/3 "
         "Monday/NNP/pobj/4", 5, None),  # present perfect: the date is not the verb's
        # He'll arrive Sunday
        ("He/PRP/nsubj/2 'll/MD/aux/2 arrive/VB/ROOT/2 Sunday/NNP/npadvmod/2", 3, "future"),
        # The bank meets on Thursday
        ("bank/NN/nsubj/1 meets/VBZ/ROOT/1 on/IN/prep/1 Thursday/NNP/pobj/2", 3, "present"),
        # Lavrov is visiting Beijing on Monday
        ("Lavrov/NNP/nsubj/2 is/VBZ/aux/2 visiting/VBG/ROOT/2 Beijing/NNP/dobj/2 on/IN/prep/2 "
         "Monday/NNP/pobj/4", 5, "future"),
        # Talks are scheduled for Wednesday
        ("Talks/NNS/nsubjpass/2 are/VBP/auxpass/2 scheduled/VBN/ROOT/2 for/IN/prep/2 Wednesday/NNP/pobj/3",
         4, "future"),
        # The vote is due on Monday
        ("vote/NN/nsubj/1 is/VBZ/ROOT/1 due/JJ/acomp/1 on/IN/prep/2 Monday/NNP/pobj/3", 4, "future"),
        # Talks could run into Saturday
        ("Talks/NNS/nsubj/2 could/MD/aux/2 run/VB/ROOT/2 into/IN/prep/2 Saturday/NNP/pobj/3", 4, "future"),
        # It would happen on Monday (reported speech: no direction of its own)
        ("It/PRP/nsubj/2 would/MD/aux/2 happen/VB/ROOT/2 on/IN/prep/2 Monday/NNP/pobj/3", 4, None),
        # It could have happened on Monday
        ("It/PRP/nsubj/3 could/MD/aux/3 have/VB/aux/3 happened/VBN/ROOT/3 on/IN/prep/3 Monday/NNP/pobj/4",
         5, "past"),
        # The deadline was extended to October 31
        ("deadline/NN/nsubjpass/2 was/VBD/auxpass/2 extended/VBN/ROOT/2 to/IN/prep/2 October/NNP/pobj/3 "
         "31/CD/nummod/4", 4, None),
        # They agreed to meet on Monday
        ("They/PRP/nsubj/1 agreed/VBD/ROOT/1 to/TO/aux/3 meet/VB/xcomp/1 on/IN/prep/3 Monday/NNP/pobj/4",
         5, None),
        # The council will start charging drivers to enter from 28 November
        ("council/NN/nsubj/2 will/MD/aux/2 start/VB/ROOT/2 charging/VBG/xcomp/2 drivers/NNS/dobj/3 "
         "to/TO/aux/6 enter/VB/advcl/3 from/IN/prep/6 28/CD/nummod/9 November/NNP/pobj/7", 8, "future"),
        # Monday (a headline without a verb)
        ("Talks/NNS/ROOT/0 on/IN/prep/0 Monday/NNP/pobj/1", 2, None),
    ],
)  # fmt: skip
def test_infer_tense(spec: str, date_index: int, expected: str | None) -> None:
    assert infer_tense(parse(spec), date_index, date_index + 1) == expected


def test_infer_tense_rejects_bad_spans() -> None:
    assert infer_tense(SEED, 5, 5) is None
    assert infer_tense(SEED, 0, 99) is None


def test_sentence_bounds_skip_abbreviations() -> None:
    text = "He met U.S. officials. Lavrov will visit the U.S. on Monday. Then more.\nNext line."
    start = text.index("Monday")
    a, b = sentence_bounds(text, start, start + 6)
    assert text[a:b] == "Lavrov will visit the U.S. on Monday."


# -- properties --------------------------------------------------------------------------------------------

_PUBS = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2090, 12, 31))
_TENSES = st.sampled_from(["past", "present", "future", None])
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]  # fmt: skip
_VALUE = {
    "day": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "week": re.compile(r"^\d{4}-W\d{2}$"),
    "month": re.compile(r"^\d{4}-\d{2}$"),
    "year": re.compile(r"^\d{4}$"),
}


def check_shape(got: MentionedDate) -> None:
    assert _VALUE[got.precision].match(got.value)
    assert got.start <= got.end
    if got.precision == "day":
        assert got.start == got.end and got.value == got.start.isoformat()
    if got.precision == "week":
        assert got.start.weekday() == 0 and (got.end - got.start).days == 6
        assert got.value == "{}-W{:02d}".format(*got.start.isocalendar()[:2])
    if got.precision == "month":
        assert got.start.day == 1 and got.value == got.start.isoformat()[:7]
        assert (got.end + dt.timedelta(days=1)).day == 1
    if got.precision == "year":
        assert (got.start.month, got.start.day, got.end.month, got.end.day) == (1, 1, 12, 31)


@settings(max_examples=300)
@given(_PUBS, st.sampled_from(range(7)), _TENSES)
def test_weekday_direction(pub: dt.date, weekday: int, tense: str | None) -> None:
    got = resolve_date(_WEEKDAYS[weekday], pub, tense)  # type: ignore[arg-type]
    assert got is not None
    check_shape(got)
    assert got.start.weekday() == weekday
    delta = (got.start - pub).days
    if tense == "past":
        assert -6 <= delta <= 0
    elif tense == "future":
        assert 0 <= delta <= 6
    else:
        assert -3 <= delta <= 3


@settings(max_examples=300)
@given(_PUBS, st.sampled_from(range(1, 13)), _TENSES)
def test_month_direction(pub: dt.date, month: int, tense: str | None) -> None:
    got = resolve_date(_MONTHS[month - 1], pub, tense)  # type: ignore[arg-type]
    assert got is not None
    check_shape(got)
    assert got.start.month == month
    if tense == "past":
        assert got.start <= pub and (pub - got.start).days < 366
    elif tense == "future":
        assert got.end >= pub and (got.end - pub).days < 366
    else:
        assert abs(got.start.year - pub.year) <= 1


@given(
    st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2100, 12, 31)),
    st.sampled_from(["mdy", "dmy", "iso"]),
)
def test_explicit_day_round_trip(day: dt.date, style: str) -> None:
    month_name = _MONTHS[day.month - 1]
    expr = {
        "mdy": f"{month_name} {day.day}, {day.year}",
        "dmy": f"{day.day} {month_name} {day.year}",
        "iso": day.isoformat(),
    }[style]
    got = resolve_date(expr)
    assert got == MentionedDate(day.isoformat(), "day", day, day, expr)


_RELATIVE = st.sampled_from(
    ["next week", "last week", "this week", "last year", "next year", "this month", "last month", "yesterday",
     "today", "tomorrow", "this weekend", "two weeks ago", "three months ago"]
)  # fmt: skip


@given(_PUBS, _RELATIVE, _TENSES)
def test_relative_shapes(pub: dt.date, expr: str, tense: str | None) -> None:
    got = resolve_date(expr, pub, tense)  # type: ignore[arg-type]
    assert got is not None
    check_shape(got)
    assert -800 <= (got.start - pub).days <= 400
    assert resolve_date(expr, None, tense) is None  # type: ignore[arg-type]


@given(
    st.sampled_from(["", "for ", "about ", "the past ", "the next ", "more than "]),
    st.integers(min_value=2, max_value=99),
    st.sampled_from(["days", "weeks", "months", "years", "decades"]),
)
def test_durations_are_never_dates(prefix: str, n: int, unit: str) -> None:
    assert resolve_date(f"{prefix}{n} {unit}", dt.date(2021, 3, 19), "past") is None


_DATE_WORDS = st.sampled_from(
    ["on", "the", "last", "next", "this", "early", "mid-", "March", "march", "May", "may", "Monday", "week",
     "weekend", "month", "year", "ago", "two", "a", "1", "22", "31", "2021", "1990s", "-", "/", "3/22", ",",
     "of", "to", "and", "'s", "yesterday", "Sept.", "Dec", "2003-04", "2021-02-29", "fiscal"]
)  # fmt: skip


@settings(max_examples=400)
@given(
    st.one_of(st.text(max_size=30), st.lists(_DATE_WORDS, max_size=6).map(" ".join)),
    st.none() | _PUBS,
    _TENSES,
)
def test_resolve_date_never_raises_and_is_well_formed(expr: str, pub: dt.date | None, tense: str | None) -> None:
    got = resolve_date(expr, pub, tense)  # type: ignore[arg-type]
    if got is not None:
        check_shape(got)
        assert got.text == expr
