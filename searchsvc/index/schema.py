"""The Whoosh schema and analyzers: the only place that says what a field is.

Dates are kept as ISO strings (ID/KEYWORD fields), not Whoosh DATETIME: DATETIME is an unsigned NUMERIC, and in
Whoosh-Reloaded open-ended ranges on unsigned numerics match every document. ISO strings sort and range-compare
correctly as text, so `TermRange` over them is exact.

Stopwords stay in the index so phrases match exactly ("Belt and Road" is not "Road and Belt"); long
natural-language queries drop them on the query side instead (see query.py).

Ranking: words without a field are searched in `text`, the title written twice and then the body, so one BM25
saturation and length norm covers the whole document with the title weighted 2 (the usual way to get BM25F field
weights from one field); scoring each field on its own over-rewards a word repeated in a short title. On the
classic test collections (`python -m eval.ranking`) it moved nDCG@10 by -0.004 on cranfield, +0.017 on cisi and
+0.024 on med.

Parts: `text` (two title copies, then the body) and `entity` (one name after another) are each indexed as
parts joined by PART_SEPARATOR, and the first word of a part is POSITION_GAP positions past the last word of the
part before, like Lucene's position_increment_gap: POSITION_GAP is larger than any slop the query language
accepts (query.MAX_SLOP), so no phrase joins the end of the title to the start of the body ("talks in russia" +
"china announced..." is no "russia china"). The gap costs nothing in the terms and little in the postings.

Mentioned dates are periods: a day, an ISO week (Monday to Sunday), a month or a year, each calendar-aligned.
`mentioned` holds one term per period, its precision's letter and its ISO value ("d:2021-03-15", "w:2021-W11",
"m:2021-03", "y:2021"). A calendar unit intersects the days [lo, hi] exactly when it lies between the unit
holding lo and the unit holding hi, so a range filter is four TermRanges, one per precision
(`mentioned_ranges`): each term is one period, so two periods of a document never combine into a false match,
and the cost is that of the terms in range, as for any range. The facet column `mentioned_month` holds every
month a period covers (a year all twelve, a week across a month's end both): a month's count is then the number
of documents that filtering on that month finds.

`title` and `body` are stored, not indexed: their words and positions are already in `text`, and a second copy
made the benchmark's index 1.7x a plain Whoosh index of the same articles (bench/, `make bench`). `title:` and
`body:` queries match in `text` and keep the matches that fall in the first title copy or in the body, from the
title's token count kept per document in `title_positions` (query.py's FieldPart).
Tokenisation: words are runs of letters and digits, joined by inner apostrophes or periods ("o'neill", "u.s."),
so `*word*` loses its stars, a sentence's final period is dropped, and possessives are folded ("russia's" ->
"russia"): the same analyzer runs at index and query time, so phrases line up.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from whoosh import columns
from whoosh.analysis import (
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
)
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.lang.porter import stem as porter_stem

from searchsvc.documents import Document
from searchsvc.extract.dates import mentioned_date
from searchsvc.extract.types import ENTITY_TYPES, Entity, Extraction, MentionedDate

# Schema version: bump when fields or analyzers change so an old index is rebuilt, not misread.
SCHEMA_VERSION = 6

WORD_PATTERN = r"\w+(?:['’.]\w+)*"

TEXT_FIELDS = ("title", "body")
COMBINED_FIELD = "text"  # title x TITLE_WEIGHT + body, the default search field (see the module docstring)
TITLE_WEIGHT = 2
# Positions left empty between the parts of `text` and of `entity` (see the module docstring): more than the
# largest slop a query may give (query.MAX_SLOP, 99), so a part's first word is more than a phrase's reach from
# the previous part's last one.
POSITION_GAP = 100
PART_SEPARATOR = "\x1e"  # the ASCII record separator: not a word character, and never in a query
# Fields a user may name in a query (`person:lavrov`); the keyword fields match whole normalised names.
HASH_BYTES = 16
_WORD = re.compile(WORD_PATTERN)
QUERYABLE_FIELDS = ("title", "body", "person", "org", "place", "entity", "tags", "source")


def unpossessive(word: str) -> str:
    """A lowercased word as the analyzers index it before stemming: a trailing 's (straight or curly) dropped and
    dots stripped, so "U.S." and "US" index alike. Highlighting marks words by the same rule."""
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    return word.replace(".", "") if "." in word else word


@functools.lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The Porter stem: StemFilter's default, which text_analyzer indexes with (cached for highlighting)."""
    return porter_stem(word)


class PossessiveFilter(Filter):
    """`unpossessive` over a token stream (tokens that become empty are dropped)."""

    def __call__(self, tokens):
        for t in tokens:
            text = unpossessive(t.text)
            if text:
                t.text = text
                yield t


class PartsTokenizer(RegexTokenizer):
    """RegexTokenizer for a value of parts joined by PART_SEPARATOR: positions jump POSITION_GAP between parts.

    A part's first word takes the position after the previous part's last word plus POSITION_GAP; a part with
    no words adds no gap, so a value with an empty (or wordless) title numbers its body from 0."""

    def __init__(self) -> None:
        super().__init__(WORD_PATTERN)

    def __call__(self, value, positions=False, chars=False, start_pos=0, start_char=0, tokenize=True, **kwargs):
        pos, char, seen = start_pos, start_char, False
        for part in value.split(PART_SEPARATOR) if tokenize else [value]:
            first = pos + POSITION_GAP if seen else pos
            count = 0
            for token in super().__call__(
                part, positions=positions, chars=chars, start_pos=first, start_char=char, tokenize=tokenize, **kwargs
            ):
                count += 1
                yield token
            if count:
                pos, seen = first + count, True
            char += len(part) + len(PART_SEPARATOR)


def text_analyzer():
    """Stemmed analyzer for title and body (Porter stemming; stopwords kept, see the module docstring)."""
    return PartsTokenizer() | LowercaseFilter() | PossessiveFilter() | StemFilter(cachesize=50_000)


def name_analyzer():
    """Unstemmed analyzer for entity names: `entity:lavrov` finds "Sergey Lavrov"."""
    return PartsTokenizer() | LowercaseFilter() | PossessiveFilter()


def build_schema() -> Schema:
    return Schema(
        id=ID(unique=True, stored=True, sortable=True),
        title=STORED(),  # words and positions live in `text` (see the module docstring)
        body=STORED(),
        text=TEXT(analyzer=text_analyzer(), phrase=True),
        # How many token positions the title takes in `text`: the first copy is [0, n), the body starts at
        # body_start(n).
        title_positions=COLUMN(columns.NumericColumn("I")),
        entity=TEXT(analyzer=name_analyzer(), phrase=True),
        person=KEYWORD(commas=True, lowercase=True, sortable=True, scorable=False),
        org=KEYWORD(commas=True, lowercase=True, sortable=True, scorable=False),
        place=KEYWORD(commas=True, lowercase=True, sortable=True, scorable=False),
        tags=KEYWORD(commas=True, lowercase=True, stored=True),
        source=ID(stored=True),
        # ISO "YYYY-MM-DD"; empty when the document states no date. Rebuilt from `published_raw` when needed.
        published=ID(sortable=True),
        # Each mentioned period as one term, "d:2021-03-15", "w:2021-W11", "m:2021-03" or "y:2021" (see the
        # module docstring), for range filters.
        mentioned=KEYWORD(),
        # "YYYY-MM" of every month a mentioned period covers, as a column for facets.
        mentioned_month=KEYWORD(commas=True, sortable=True, scorable=False),
        # Stored as-is for results: full ISO datetime if known, url, author, JSON of entities and dates.
        published_raw=STORED(),
        url=STORED(),
        author=STORED(),
        entities_json=STORED(),
        dates_json=STORED(),
        # Bookkeeping for incremental indexing, read from columns: the source file (few distinct values, so
        # stored once each) and the first 128 bits of the content hash.
        path=ID(sortable=columns.RefBytesColumn()),
        content_hash=COLUMN(columns.FixedBytesColumn(HASH_BYTES)),
    )


def joined_parts(parts: Iterable[str]) -> str:
    """A value of `text` or `entity`: `parts` joined by PART_SEPARATOR (which is a space inside a part)."""
    return PART_SEPARATOR.join(part.replace(PART_SEPARATOR, " ") for part in parts)


def combined_text(title: str, body: str) -> str:
    """The `text` field: the title TITLE_WEIGHT times, then the body, as parts."""
    return joined_parts([title] * TITLE_WEIGHT + [body]) if title else joined_parts([body])


def body_start(title_positions: int) -> int:
    """The position of the body's first word in `text`, for a title of `title_positions` positions."""
    return TITLE_WEIGHT * (title_positions + POSITION_GAP) if title_positions else 0


_PRECISION_LETTERS: dict[str, str] = {"day": "d", "week": "w", "month": "m", "year": "y"}


def _iso_week(day: dt.date) -> str:
    iso = day.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def period_term(date: MentionedDate) -> str:
    """The `mentioned` term of a period: its precision's letter and its ISO value ("m:2021-03")."""
    return f"{_PRECISION_LETTERS[date.precision]}:{date.value}"


def mentioned_ranges(lo: dt.date, hi: dt.date) -> list[tuple[str, str]]:
    """The inclusive `mentioned` term ranges whose periods intersect the days [lo, hi]: per precision, from the
    unit holding lo to the unit holding hi."""
    units = [
        ("d", dt.date.isoformat),
        ("w", _iso_week),
        ("m", lambda d: d.isoformat()[:7]),
        ("y", lambda d: f"{d.year:04d}"),
    ]
    return [(f"{letter}:{unit(lo)}", f"{letter}:{unit(hi)}") for letter, unit in units]


def covered_months(date: MentionedDate) -> list[str]:
    """Every "YYYY-MM" the period touches, in order."""
    months = []
    y, m = date.start.year, date.start.month
    while (y, m) <= (date.end.year, date.end.month):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _names(entities: Iterable[Entity], kind: str) -> str:
    return ",".join(e.name.replace(",", " ") for e in entities if e.type == kind)


def title_positions(title: str) -> int:
    """Token positions the title takes in `text`: the tokenizer gives every word one, even if a filter drops it."""
    return len(_WORD.findall(title))


def document_fields(doc: Document, extraction: Extraction, *, path: str, content_hash: str) -> dict[str, Any]:
    """The Whoosh fields for one document and what was extracted from it (None: not stored, not indexed)."""
    published = doc.published
    published_day = (
        published.date().isoformat()
        if isinstance(published, dt.datetime)
        else (published.isoformat() if published else "")
    )
    mentioned_periods = sorted({period_term(d) for d in extraction.dates})
    mentioned_months = sorted({month for d in extraction.dates for month in covered_months(d)})
    return {
        "id": doc.id,
        "title": doc.title,
        "body": doc.body,
        "text": combined_text(doc.title, doc.body),
        "title_positions": title_positions(doc.title),
        "entity": joined_parts(e.name for e in extraction.entities),
        "person": _names(extraction.entities, "person"),
        "org": _names(extraction.entities, "org"),
        "place": _names(extraction.entities, "place"),
        "tags": ",".join(t.replace(",", " ") for t in doc.tags) or None,
        "source": doc.source or None,
        "published": published_day,
        "mentioned": " ".join(mentioned_periods),
        "mentioned_month": ",".join(mentioned_months),
        "published_raw": published.isoformat() if published else None,
        "url": doc.url,
        "author": doc.author,
        "entities_json": [[e.type, e.name, e.mentions] for e in extraction.entities] or None,
        "dates_json": [[d.value, d.precision, d.text] for d in extraction.dates] or None,
        "path": path,
        "content_hash": bytes.fromhex(content_hash)[:HASH_BYTES] if content_hash else None,
    }


def document_from_stored(stored: Mapping[str, Any]) -> tuple[Document, Extraction]:
    """The document and its extraction rebuilt from stored fields, so a rebuild can carry a document added over
    HTTP (it has no source file) into a new generation without extracting it again."""
    raw = stored.get("published_raw")
    published: dt.date | dt.datetime | None = None
    if raw:
        published = dt.datetime.fromisoformat(raw) if "T" in raw else dt.date.fromisoformat(raw)
    doc = Document(
        id=stored["id"],
        title=stored.get("title") or "",
        body=stored.get("body") or "",
        published=published,
        url=stored.get("url"),
        source=stored.get("source") or None,
        author=stored.get("author"),
        tags=tuple(t for t in (stored.get("tags") or "").split(",") if t),
    )
    entities = stored.get("entities_json") or ()
    dates = stored.get("dates_json") or ()
    extraction = Extraction(
        entities=tuple(Entity(name, kind, mentions) for kind, name, mentions in entities),
        dates=tuple(mentioned_date(value, precision, text) for value, precision, text in dates),
    )
    return doc, extraction


def record_from_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of a stored document: what /documents/<id> and search hits show."""
    entities: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ENTITY_TYPES}
    for kind, name, mentions in stored.get("entities_json") or ():
        entities[kind].append({"name": name, "mentions": mentions})
    return {
        "id": stored["id"],
        "title": stored.get("title", ""),
        "body": stored.get("body", ""),
        "published": stored.get("published_raw"),
        "url": stored.get("url"),
        "source": stored.get("source") or None,
        "author": stored.get("author"),
        "tags": [t for t in (stored.get("tags") or "").split(",") if t],
        "entities": entities,
        "dates": [
            {"value": value, "precision": precision, "text": text}
            for value, precision, text in stored.get("dates_json") or ()
        ],
    }
