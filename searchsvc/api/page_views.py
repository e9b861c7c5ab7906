"""What the HTML pages show, computed without Flask: the page's query (parameters in, links out), snippets made
safe, timelines as bar geometry, and document text cut into marked spans. Templates only lay these out, and
Jinja escapes every string they print; the one Markup built here (`safe_snippet`) holds nothing but escaped
text and <mark> tags.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from markupsafe import Markup, escape

from searchsvc.extract.types import ENTITY_TYPES

PAGE_SIZE = 10
# Sort names of the page's links -> the API's sorts (None: relevance with words, newest without).
PAGE_SORTS: dict[str, str] = {"relevance": "relevance", "newest": "-published", "oldest": "published"}
DATE_FILTERS = ("published_from", "published_to", "mentioned_from", "mentioned_to")
ENTITY_LABELS = {"person": "People", "org": "Organisations", "place": "Places"}
ENTITY_SINGULAR = {"person": "person", "org": "organisation", "place": "place"}


# -- the page's query ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PageQuery:
    """The search page's state, all in its query string: links and forms carry it, so it works without script."""

    q: str = ""
    person: tuple[str, ...] = ()
    org: tuple[str, ...] = ()
    place: tuple[str, ...] = ()
    published_from: str = ""
    published_to: str = ""
    mentioned_from: str = ""
    mentioned_to: str = ""
    sort: str = ""  # "", or a key of PAGE_SORTS
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, Any], max_names: int | None = None) -> PageQuery:
        """From a MultiDict-like mapping (getlist) or a plain one; unknown names and empty values are ignored, a
        bad page number or sort falls back to the default (they are the page's own, not the API's). At most
        `max_names` entity names are kept, the first ones: each is listed with a link carrying all the others,
        so the page grows with their square (800 one-letter names in a 9 KB query string made a 10 MB page)."""

        def values(name: str) -> list[str]:
            got = args.getlist(name) if hasattr(args, "getlist") else args.get(name, [])
            got = [got] if isinstance(got, str) else list(got)
            return [v.strip() for v in got if isinstance(v, str) and v.strip()]

        def one(name: str) -> str:
            found = values(name)
            return found[0] if found else ""

        names: dict[str, tuple[str, ...]] = {}
        room = max_names
        for kind in ENTITY_TYPES:
            names[kind] = tuple(dict.fromkeys(values(kind)))[:room]
            room = None if room is None else room - len(names[kind])
        page = one("page")
        sort = one("sort")
        return cls(
            q=one("q"),
            person=names["person"],
            org=names["org"],
            place=names["place"],
            **{name: one(name) for name in DATE_FILTERS},
            sort=sort if sort in PAGE_SORTS else "",
            page=int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1,
        )

    def api_params(self) -> dict[str, Any]:
        """The parameters as the API's search schema takes them (validated there: lengths, counts)."""
        params: dict[str, Any] = {"q": self.q}
        for kind in ENTITY_TYPES:
            if getattr(self, kind):
                params[kind] = list(getattr(self, kind))
        for name in DATE_FILTERS:
            if getattr(self, name):
                params[name] = getattr(self, name)
        if self.sort:
            params["sort"] = PAGE_SORTS[self.sort]
        return params

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    @property
    def has_filters(self) -> bool:
        return any(getattr(self, k) for k in (*ENTITY_TYPES, *DATE_FILTERS))

    def pairs(self) -> list[tuple[str, str]]:
        """The query string's (name, value) pairs; defaults left out."""
        out: list[tuple[str, str]] = [("q", self.q)] if self.q else []
        for kind in ENTITY_TYPES:
            out.extend((kind, name) for name in getattr(self, kind))
        out.extend((name, getattr(self, name)) for name in DATE_FILTERS if getattr(self, name))
        if self.sort:
            out.append(("sort", self.sort))
        if self.page > 1:
            out.append(("page", str(self.page)))
        return out

    def query_string(self) -> str:
        pairs = self.pairs()
        return "?" + urlencode(pairs) if pairs else ""

    # Each link of the page is this query changed in one way, back on its first page.
    def _changed(self, **changes: Any) -> PageQuery:
        return replace(self, page=1, **changes)

    def with_entity(self, kind: str, name: str) -> PageQuery:
        current: tuple[str, ...] = getattr(self, kind)
        if any(n.lower() == name.lower() for n in current):
            return self._changed()
        return self._changed(**{kind: (*current, name)})

    def without_entity(self, kind: str, name: str) -> PageQuery:
        current: tuple[str, ...] = getattr(self, kind)
        return self._changed(**{kind: tuple(n for n in current if n != name)})

    def with_period(self, name: str, first: str, last: str) -> PageQuery:
        """`name` is published or mentioned."""
        return self._changed(**{f"{name}_from": first, f"{name}_to": last})

    def without(self, name: str) -> PageQuery:
        return self._changed(**{name: ""})

    def with_sort(self, sort: str) -> PageQuery:
        return self._changed(sort=sort)

    def with_q(self, q: str) -> PageQuery:
        return self._changed(q=q)

    def on_page(self, page: int) -> PageQuery:
        return replace(self, page=page)

    def has_entity(self, kind: str, name: str) -> bool:
        return any(n.lower() == name.lower() for n in getattr(self, kind))

    def active_filters(self) -> list[tuple[str, str, PageQuery]]:
        """(label, value, the query without it), one per active filter, in the order they are shown."""
        out = []
        for kind in ENTITY_TYPES:
            for name in getattr(self, kind):
                out.append((ENTITY_SINGULAR[kind], name, self.without_entity(kind, name)))
        labels = {
            "published_from": "published from",
            "published_to": "published until",
            "mentioned_from": "mentions dates from",
            "mentioned_to": "mentions dates until",
        }
        for name in DATE_FILTERS:
            if getattr(self, name):
                out.append((labels[name], getattr(self, name), self.without(name)))
        return out


def total_text(total: int, relation: str) -> str:
    """'1 document', '12 documents', or 'about 1,000+ documents' when the count is a lower bound."""
    if relation == "gte":
        return f"about {total:,}+ documents"
    return f"{total:,} document" + ("" if total == 1 else "s")


def page_numbers(page: int, total: int, relation: str, max_offset: int) -> tuple[list[int], bool]:
    """The page numbers to link around `page`, and whether there is a next page."""
    last = max(1, -(-total // PAGE_SIZE))
    last = min(last, max_offset // PAGE_SIZE + 1)
    has_next = page < last or (relation == "gte" and page * PAGE_SIZE <= max_offset)
    lo = max(1, page - 2)
    hi = min(last, page + 2)
    return list(range(lo, hi + 1)), has_next


# -- safe output ---------------------------------------------------------------------------------------------
_MARK_TAG = re.compile(r"(</?mark>)")


def safe_snippet(snippet: str) -> Markup:
    """A highlight from the search service (text already escaped, matches in <mark>) as Markup that holds only
    escaped text and balanced <mark> tags, whatever the string holds: the text between the tags is unescaped
    and escaped again, so a raw '<' becomes '&lt;', and an unbalanced tag is dropped."""
    out: list[str] = []
    open_mark = False
    for part in _MARK_TAG.split(snippet):
        if part == "<mark>":
            if not open_mark:
                out.append("<mark>")
                open_mark = True
        elif part == "</mark>":
            if open_mark:
                out.append("</mark>")
                open_mark = False
        elif part:
            out.append(str(escape(html.unescape(part))))
    if open_mark:
        out.append("</mark>")
    return Markup("".join(out))


def joined_snippets(snippets: Sequence[str]) -> Markup:
    """A hit's snippets as one safe Markup, one ellipsis between two (each fragment brings its own)."""
    parts: list[str] = []
    for snippet in snippets:
        text = str(safe_snippet(snippet))
        if parts and parts[-1].endswith(" …") and text.startswith("… "):
            text = text[2:]
        parts.append(text)
    return Markup(" ".join(parts))


def safe_url(url: str | None) -> str | None:
    """`url` if it is an http(s) link (a document's url could say javascript:), else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


# -- timelines -----------------------------------------------------------------------------------------------
CHART_WIDTH = 600
CHART_HEIGHT = 80
MAX_MONTH_BARS = 120  # beyond ten years of months, the bars are years
_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)


@dataclass(frozen=True)
class Bar:
    period: str  # "2021-03" or "2021": what the bar's link filters on (from and to)
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Timeline:
    name: str  # "published" or "mentioned"
    unit: str  # "month" or "year"
    bars: list[Bar] = field(default_factory=list)
    peak: int = 0
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def first(self) -> str:
        return self.bars[0].period if self.bars else ""

    @property
    def last(self) -> str:
        return self.bars[-1].period if self.bars else ""

    @property
    def total(self) -> int:
        return sum(b.count for b in self.bars)


def timelines(facets: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Timeline]:
    """The published and mentioned timelines of a result's month facets."""
    return [timeline(name, facets.get(name, ())) for name in ("published", "mentioned")]


def timeline(name: str, facet: Iterable[Mapping[str, Any]]) -> Timeline:
    """Bars for a month facet ([{"value": "2021-03", "count": 4}, ...], any order): one per month from the first
    to the last (empty months are gaps), or one per year when that would be more than MAX_MONTH_BARS bars."""
    months: dict[tuple[int, int], int] = {}
    for item in facet:
        m = _MONTH.fullmatch(str(item.get("value", "")))
        if m and 1 <= int(m.group(2)) <= 12:
            key = (int(m.group(1)), int(m.group(2)))
            months[key] = months.get(key, 0) + int(item.get("count", 0))
    if not months:
        return Timeline(name, "month")
    first, last = min(months), max(months)
    span = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    slots: list[tuple[str, int]]
    if span <= MAX_MONTH_BARS:
        unit = "month"
        slots = []
        year, month = first
        for _ in range(span):
            slots.append((f"{year:04d}-{month:02d}", months.get((year, month), 0)))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        # A document holding several months of one year counts once per month here: the bar is the sum.
        unit = "year"
        years: dict[int, int] = {}
        for (year, _), count in months.items():
            years[year] = years.get(year, 0) + count
        slots = [(f"{year:04d}", years.get(year, 0)) for year in range(first[0], last[0] + 1)]
        if len(slots) > MAX_MONTH_BARS:  # centuries apart: only the years that have documents
            slots = [(p, c) for p, c in slots if c]
    peak = max(c for _, c in slots)
    slot = CHART_WIDTH / len(slots)
    gap = 1.0 if slot >= 4 else 0.0
    bars = []
    for i, (period, count) in enumerate(slots):
        if not count:
            continue
        height = max(2.0, round(count / peak * (CHART_HEIGHT - 2), 2))
        x, y = round(i * slot, 2), round(CHART_HEIGHT - height, 2)
        bars.append(Bar(period, count, x, y, round(slot - gap, 2), height))
    return Timeline(name, unit, bars, peak)


# -- marked document text ------------------------------------------------------------------------------------
MAX_MARKED_CHARS = 200_000  # past this a body is shown unmarked (the patterns cost grows with the text)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Span:
    text: str
    kind: str | None = None  # None (plain text), an entity type, or "date"
    name: str = ""  # the entity's name, or the date's value
    precision: str = ""  # a date's


def marked_paragraphs(
    body: str, entities: Mapping[str, Sequence[Mapping[str, Any]]], dates: Sequence[Mapping[str, Any]]
) -> list[list[Span]]:
    """The body as paragraphs of spans: each entity name and date expression found in the text (as written,
    whole words, the longest first) is a span of its kind. The index stores names and expressions, not their
    offsets, so they are found again here."""
    needles: dict[str, tuple[str, str, str]] = {}
    for d in dates:
        text = str(d.get("text") or "").strip()
        if len(text) >= 3:
            needles.setdefault(text, ("date", str(d.get("value", "")), str(d.get("precision", ""))))
    for kind in ENTITY_TYPES:
        for e in entities.get(kind, ()):
            name = str(e.get("name") or "").strip()
            if len(name) >= 2:
                needles.setdefault(name, (kind, name, ""))
    pattern = None
    if needles and len(body) <= MAX_MARKED_CHARS:
        alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
        pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
    paragraphs = []
    for paragraph in _PARAGRAPH_BREAK.split(body.strip()):
        spans: list[Span] = []
        last = 0
        if pattern is not None:
            for m in pattern.finditer(paragraph):
                if m.start() > last:
                    spans.append(Span(paragraph[last : m.start()]))
                what, name, precision = needles[m.group(0)]
                spans.append(Span(m.group(0), what, name, precision))
                last = m.end()
        if last < len(paragraph):
            spans.append(Span(paragraph[last:]))
        if spans:
            paragraphs.append(spans)
    return paragraphs
