"""From a date expression (a spaCy DATE span), the tense of its sentence and the publication date, to the date
it means at the precision it was written with. Pure: no model needed.

Why our own rules before dateparser: news dates are mostly relative ("announced Thursday", "next week",
"last year") and their direction comes from the sentence, which dateparser does not see; dateparser also
reads durations ("two years"), the verb "may", "a second" and "now" as dates. So the expression is matched
against a small grammar here; dateparser (strict: day, month and year all written) is only the last resort
for explicit dates in other spellings ("22.03.2021").

Relative expressions (weekdays, "next week", "last year", months and days without a year) need the
publication date and are left out without one, never guessed. Explicit dates ("March 18, 2021", "2021")
do not.
Ranges ("March 1-5", "2003-04") resolve to their start. Durations, ages and decades are not dates.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from typing import Literal

from .types import MentionedDate

Tense = Literal["past", "present", "future"]

WEEKDAY_NUMBERS = {name: i for i, name in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}
MONTH_NUMBERS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTH_ABBREVIATIONS = {
    **{name.lower(): i for i, name in enumerate(calendar.month_abbr) if name},
    "sept": 9,
}
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip

_MIN_YEAR, _MAX_YEAR = 1800, 2100

_MONTH_ALT = "|".join(sorted(MONTH_NUMBERS, key=len, reverse=True))
_ANY_MONTH_ALT = "|".join(sorted({**MONTH_NUMBERS, **MONTH_ABBREVIATIONS}, key=len, reverse=True))
_WEEKDAY_ALT = "|".join(WEEKDAY_NUMBERS)
_MONTH = rf"(?P<month>{_ANY_MONTH_ALT})\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_DAY_RANGE = rf"{_DAY}(?:\s*(?:-|–|to|and)\s*(?P<last>\d{{1,2}})(?:st|nd|rd|th)?)?"
_YEAR = r"(?P<year>\d{4})"

# Words in front of a date that do not change which date it is.
_PREFIXES = re.compile(
    r"^(?:on|in|at|by|since|until|till|from|during|before|after|as of|as early as|around|about|"
    r"only|just|all|the|early|late|mid|mid-|earlier|later|the end of|end of|the start of|start of|"
    r"the beginning of|beginning of|the middle of|middle of|the first half of|the second half of|"
    r"the turn of)(?:\s+|(?<=-))"
)
_MODE = {"last": "last", "past": "last", "previous": "last", "next": "next", "coming": "next", "this": "this"}

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(pattern))
    for kind, pattern in [
        ("iso", r"^(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})$"),
        ("numeric", r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<year>\d{4}|\d{2}))?$"),
        ("today", r"^(?:today|tonight|this (?:morning|afternoon|evening))$"),
        ("yesterday", r"^yesterday(?: (?:morning|afternoon|evening))?$|^last night$"),
        ("tomorrow", r"^tomorrow(?: (?:morning|afternoon|evening|night))?$"),
        (
            "ago",
            r"^(?P<n>\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+"
            r"(?P<unit>day|week|month|year)s?\s+ago$",
        ),
        (
            "weekday",
            rf"^(?:(?P<mode>last|next|this|coming|past|previous|this coming)\s+)?"
            rf"(?P<weekday>{_WEEKDAY_ALT})(?:\s+(?:morning|afternoon|evening|night))?$",
        ),
        ("week", r"^(?P<mode>this|last|next|coming|previous)\s+(?P<unit>week|weekend)$"),
        ("month_rel", r"^(?P<mode>this|last|next|coming|previous)\s+month$"),
        ("year_rel", r"^(?P<mode>this|last|next|coming|previous|current)\s+year$"),
        ("month_of_year_rel", rf"^{_MONTH},?\s+(?:of\s+)?(?P<mode>this|last|next)\s+year$"),
        ("month_mode", rf"^(?P<mode>last|next|this|past|coming)\s+(?P<month>{_MONTH_ALT})$"),
        ("mdy", rf"^{_MONTH}\s+{_DAY_RANGE},?\s+{_YEAR}$"),
        ("dmy", rf"^{_DAY_RANGE}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}$"),
        ("md", rf"^{_MONTH}\s+{_DAY_RANGE}$"),
        ("dm", rf"^{_DAY_RANGE}\s+(?:of\s+)?{_MONTH}$"),
        ("my", rf"^{_MONTH},?\s+(?:of\s+)?{_YEAR}$"),
        ("month", rf"^(?P<month>{_MONTH_ALT}|sept)$"),
        ("year", r"^(?:the year\s+|fiscal\s+|fy\s*)?(?P<year>\d{4})$"),
        ("year_range", r"^(?P<year>\d{4})\s*[-–/]\s*(?P<end>\d{1,4})$"),
    ]
]

# Searches inside longer expressions ("the three months to 31 December 2004"), first match wins.
_SEARCHES: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(pattern))
    for kind, pattern in [
        ("mdy", rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b"),
        ("dmy", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b"),
        ("my", rf"\b{_MONTH},?\s+{_YEAR}\b"),
        ("md", rf"\b{_MONTH}\s+{_DAY}\b(?![-/.,]\d)"),
        ("dm", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b"),
        ("year", r"(?<![\d.,/-])(?P<year>\d{4})(?![\d.,%]|s\b|-year|-old)"),
        ("month", rf"\b(?P<month>{_MONTH_ALT})\b"),
        ("weekday", rf"\b(?P<weekday>{_WEEKDAY_ALT})\b"),
    ]
]

_NOT_A_DATE = re.compile(r"-(?:year|month|week|day)s?\b|-old\b|\bold\b|\d0s\b|\bages?\b")


_NUMERIC_DATE = re.compile(r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?:\d{2}|\d{4}))?$")


def looks_like_numeric_date(text: str) -> bool:
    """ "3/22" or "22/3/2021": spaCy tags these CARDINAL, so the caller offers them as dates after "by"."""
    m = _NUMERIC_DATE.match(text.strip())
    if not m:
        return False
    a, b = int(m["a"]), int(m["b"])
    return 1 <= min(a, b) <= 12 and 1 <= max(a, b) <= 31


def as_date(value: dt.date | dt.datetime | None) -> dt.date | None:
    """A publication date or datetime as a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def day(value: dt.date, text: str) -> MentionedDate:
    """A day-precision MentionedDate."""
    return MentionedDate(value.isoformat(), "day", value, value, text)


def week(value: dt.date, text: str) -> MentionedDate:
    """The ISO week containing `value` ("2021-W12"), Monday to Sunday."""
    iso = value.isocalendar()
    monday = value - dt.timedelta(days=iso.weekday - 1)
    return MentionedDate(f"{iso.year}-W{iso.week:02d}", "week", monday, monday + dt.timedelta(days=6), text)


def month(year: int, month_number: int, text: str) -> MentionedDate:
    """A month-precision MentionedDate ("2021-03")."""
    last = calendar.monthrange(year, month_number)[1]
    return MentionedDate(
        f"{year:04d}-{month_number:02d}",
        "month",
        dt.date(year, month_number, 1),
        dt.date(year, month_number, last),
        text,
    )


def year(value: int, text: str) -> MentionedDate:
    """A year-precision MentionedDate ("2021")."""
    return MentionedDate(f"{value:04d}", "year", dt.date(value, 1, 1), dt.date(value, 12, 31), text)


def mentioned_date(value: str, precision: str, text: str) -> MentionedDate:
    """A MentionedDate rebuilt from its ISO value and precision (what the index stores)."""
    if precision == "day":
        return day(dt.date.fromisoformat(value), text)
    if precision == "week":
        year_text, week_text = value.split("-W")
        return week(dt.date.fromisocalendar(int(year_text), int(week_text), 1), text)
    if precision == "month":
        return month(int(value[:4]), int(value[5:7]), text)
    return year(int(value), text)


def normalise_expression(expr: str) -> str:
    """Lower case, without possessive, edge punctuation and the prepositions or hedges that do not move it.

    Lower-case month names are verbs or nouns ("may", "march"), never months: they are masked first.
    """
    s = re.sub(r"['’]s\b", "", expr.replace("’", "'"))
    s = re.sub(rf"\b(?:{_ANY_MONTH_ALT})\b", "\x00", s)  # lower-case months: masked
    s = " ".join(s.lower().split()).strip(" .,;:!?\"'“”()[]")
    previous = None
    while previous != s:
        previous = s
        s = _PREFIXES.sub("", s).strip()
    # "Monday, March 22": the weekday adds nothing to a written date.
    s = re.sub(rf"^(?:{_WEEKDAY_ALT}),?\s+(?=(?:{_ANY_MONTH_ALT}|\d))", "", s)
    return s


def resolve_date(
    expr: str, published: dt.date | dt.datetime | None = None, tense: Tense | None = None
) -> MentionedDate | None:
    """The date `expr` refers to, or None if it is not a date or is relative and there is no publication date.

    `tense` is the tense of the clause the expression sits in: "past" makes a bare weekday, month or day the
    most recent one (the publication day or month itself included), "future" the coming one, anything else
    the nearest one (the earlier on a tie).
    """
    return _resolve_date(expr, as_date(published), tense)


@functools.lru_cache(maxsize=65_536)
def _resolve_date(expr: str, pub: dt.date | None, tense: Tense | None) -> MentionedDate | None:
    """resolve_date, cached: a pure function of its arguments, and news repeats its date expressions (each is
    also resolved twice more to learn whether the tense matters)."""
    s = normalise_expression(expr)
    if not s or _NOT_A_DATE.search(s):
        return None
    for kind, pattern in _PATTERNS:
        m = pattern.match(s)
        if m:
            return _resolve(kind, m, expr, pub, tense)
    for kind, pattern in _SEARCHES:
        m = pattern.search(s)
        if m:
            return _resolve(kind, m, expr, pub, tense)
    return _dateparser_strict(expr)


def _resolve(kind: str, m: re.Match[str], text: str, pub: dt.date | None, tense: Tense | None) -> MentionedDate | None:
    g = m.groupdict()
    mode = _MODE.get((g.get("mode") or "").split()[-1]) if g.get("mode") else None
    try:
        if kind == "iso":
            return day(dt.date(int(g["year"]), int(g["month"]), int(g["day"])), text)
        if kind == "numeric":
            return _numeric(int(g["a"]), int(g["b"]), g["year"], text, pub, tense)
        if kind == "year":
            return _year(int(g["year"]), text)
        if kind == "year_range":
            end = g["end"]
            start = int(g["year"])
            full_end = int(str(start)[: 4 - len(end)] + end) if len(end) < 4 else int(end)
            return _year(start, text) if full_end > start else None
        if kind in ("mdy", "dmy"):
            return day(dt.date(int(g["year"]), _month_number(g["month"]), int(g["day"])), text)
        if kind == "my":
            y = int(g["year"])
            return month(y, _month_number(g["month"]), text) if _MIN_YEAR <= y <= _MAX_YEAR else None
        if pub is None:
            return None  # everything below is relative to the publication date
        if kind == "today":
            return day(pub, text)
        if kind == "yesterday":
            return day(pub - dt.timedelta(days=1), text)
        if kind == "tomorrow":
            return day(pub + dt.timedelta(days=1), text)
        if kind == "ago":
            return _ago(g["n"], g["unit"], text, pub)
        if kind == "weekday":
            return day(_weekday(pub, WEEKDAY_NUMBERS[g["weekday"]], mode, tense), text)
        if kind == "week":
            target = pub + dt.timedelta(weeks={"last": -1, "next": 1}.get(mode or "", 0))
            if g["unit"] == "weekend":
                target += dt.timedelta(days=5 - target.weekday())  # the Saturday of that week
            return week(target, text)
        if kind == "month_rel":
            y, mo = _add_months(pub.year, pub.month, {"last": -1, "next": 1}.get(mode or "", 0))
            return month(y, mo, text)
        if kind == "year_rel":
            return year(pub.year + {"last": -1, "next": 1}.get(mode or "", 0), text)
        if kind == "month_of_year_rel":
            y = pub.year + {"last": -1, "next": 1}.get(mode or "", 0)
            return month(y, _month_number(g["month"]), text)
        if kind in ("month_mode", "month"):
            mo = _month_number(g["month"])
            return month(_year_of_month(pub, mo, mode, tense), mo, text)
        if kind in ("md", "dm"):
            mo = _month_number(g["month"])
            last = int(g["last"]) if g.get("last") else None
            return day(_day_without_year(pub, mo, int(g["day"]), tense, last), text)
    except ValueError:
        return None  # 31 February, month 13
    return None


def _month_number(name: str) -> int:
    key = name.lower().rstrip(".")
    return MONTH_NUMBERS.get(key) or MONTH_ABBREVIATIONS[key]


def _year(value: int, text: str) -> MentionedDate | None:
    return year(value, text) if _MIN_YEAR <= value <= _MAX_YEAR else None


def _add_months(y: int, mo: int, delta: int) -> tuple[int, int]:
    index = y * 12 + (mo - 1) + delta
    return index // 12, index % 12 + 1


def _numeric(
    a: int, b: int, year_text: str | None, text: str, pub: dt.date | None, tense: Tense | None
) -> MentionedDate | None:
    """ "3/22" is month/day (US style); "22/3" can only be day/month."""
    mo, d = (a, b) if a <= 12 else (b, a)
    if year_text is not None:
        y = int(year_text)
        if len(year_text) == 2:
            y += 2000 if y < 50 else 1900
        return day(dt.date(y, mo, d), text)
    if pub is None:
        return None
    return day(_day_without_year(pub, mo, d, tense), text)


def _ago(n: str, unit: str, text: str, pub: dt.date) -> MentionedDate | None:
    count = int(n) if n.isdigit() else NUMBER_WORDS[n]
    if unit == "day":
        return day(pub - dt.timedelta(days=count), text)
    if unit == "week":
        return week(pub - dt.timedelta(weeks=count), text)
    if unit == "month":
        y, mo = _add_months(pub.year, pub.month, -count)
        return month(y, mo, text)
    return _year(pub.year - count, text)


def _weekday(pub: dt.date, weekday: int, mode: str | None, tense: Tense | None) -> dt.date:
    back = (pub.weekday() - weekday) % 7
    ahead = (weekday - pub.weekday()) % 7
    if mode == "last":
        delta = -(back or 7)
    elif mode == "next":
        delta = ahead or 7
    elif tense == "past":
        delta = -back
    elif tense == "future":
        delta = ahead
    else:
        delta = -back if back <= ahead else ahead
    return pub + dt.timedelta(days=delta)


def _year_of_month(pub: dt.date, mo: int, mode: str | None, tense: Tense | None) -> int:
    if mode == "last":
        return pub.year if mo < pub.month else pub.year - 1
    if mode == "next":
        return pub.year if mo > pub.month else pub.year + 1
    if mode == "this":
        return pub.year
    back = (pub.month - mo) % 12  # months back to the most recent such month (0: this month)
    ahead = (mo - pub.month) % 12
    if tense == "past" or (tense != "future" and back <= ahead):
        return pub.year if mo <= pub.month else pub.year - 1
    return pub.year if mo >= pub.month else pub.year + 1


def _day_without_year(pub: dt.date, mo: int, d: int, tense: Tense | None, last: int | None = None) -> dt.date:
    """The year of a day written without one; a future range that is still running is this year's."""
    candidates = []
    for y in (pub.year - 1, pub.year, pub.year + 1):
        try:
            candidates.append(dt.date(y, mo, d))
        except ValueError:
            continue  # 29 February
    if not candidates:
        raise ValueError(f"no such day: {mo}/{d}")
    span = dt.timedelta(days=max(0, (last or d) - d))
    past = [c for c in candidates if c <= pub]
    future = [c for c in candidates if c + span >= pub]
    if tense == "past" and past:
        return max(past)
    if tense == "future" and future:
        return min(future)
    return min(candidates, key=lambda c: (abs((c - pub).days), c > pub))


def depends_on_tense(expr: str, published: dt.date | dt.datetime) -> bool:
    """Whether the sentence's tense changes what `expr` means (a bare weekday, month or day), so the caller
    knows when it must look at the sentence."""
    return resolve_date(expr, published, "past") != resolve_date(expr, published, "future")


@functools.cache
def _strict_parser() -> object:
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=["en"],
        settings={
            "STRICT_PARSING": True,
            "REQUIRE_PARTS": ["day", "month", "year"],
            "PARSERS": ["absolute-time"],
        },
    )


@functools.lru_cache(maxsize=8_192)
def _dateparser_strict(expr: str) -> MentionedDate | None:
    """Explicit day-month-year dates in spellings our grammar does not know ("22.03.2021")."""
    if not re.search(r"\d{4}|\d{1,2}[./-]\d{1,2}[./-]\d{2}", expr) or len(expr) > 40:
        return None
    data = _strict_parser().get_date_data(expr)  # type: ignore[attr-defined]  # dateparser is untyped
    if data.date_obj is None:
        return None
    value = data.date_obj.date()
    return day(value, expr) if _MIN_YEAR <= value.year <= _MAX_YEAR else None
