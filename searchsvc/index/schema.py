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

Aliases: `alias` holds one term per way a document wrote an entity, "type KEY_SEP key KEY_SEP canonical"
(extract/canonical.py: `name_key` of the surface form, `keyword_term` of the canonical name), the canonical name's
own key among them. A filter or an autocomplete prefix is looked up by its key in this lexicon (search/aliases.py),
so `place=U.S.`, `place=us` and `person=nicolas maduro` reach the canonical names the index holds; the table
is built from what was indexed, and an entity's stored record keeps its surface forms (`entities_json`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import Stemmer
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
from searchsvc.extract.canonical import keyword_term, name_key
from searchsvc.extract.dates import mentioned_date
from searchsvc.extract.news import without_source
from searchsvc.extract.types import ENTITY_TYPES, Entity, Extraction, MentionedDate

# Schema version: bump when fields or analyzers change so an old index is rebuilt, not misread.
# 8: Snowball English stemming (was Whoosh's Porter).
SCHEMA_VERSION = 8

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


_SNOWBALL = threading.local()  # a PyStemmer stemmer keeps state while it stems: one per thread


def snowball_stem(word: str) -> str:
    """The Snowball English (Porter2) stem, by PyStemmer's C implementation of the Snowball reference."""
    stemmer = getattr(_SNOWBALL, "stemmer", None)
    if stemmer is None:
        stemmer = _SNOWBALL.stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWord(word)


# The stemmers the text analyzer can index with, and the one it does (see the README's ranking section: Snowball
# was chosen over Whoosh's Porter by leaving one test collection out, `python -m eval.levers`). Whoosh's Porter
# is not the reference Porter ("running" -> "runn"); Snowball is the reference's successor.
STEMMERS: dict[str, Callable[[str], str]] = {"porter": porter_stem, "snowball": snowball_stem}
STEMMER = "snowball"


@functools.lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The stem text_analyzer indexes `word` under (cached for highlighting)."""
    return STEMMERS[STEMMER](word)


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


def text_analyzer(stemmer: str | None = None):
    """Stemmed analyzer for title and body (STEMMER unless `stemmer` names another of STEMMERS; stopwords kept,
    see the module docstring)."""
    stemfn = STEMMERS[stemmer or STEMMER]
    return PartsTokenizer() | LowercaseFilter() | PossessiveFilter() | StemFilter(stemfn, cachesize=50_000)


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
        # "type\x1fkey\x1fcanonical" per way an entity was written (see the module docstring).
        alias=KEYWORD(commas=True, scorable=False),
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


KEY_SEP = "\x1f"  # the ASCII unit separator: in no name key


def alias_term(kind: str, key: str, canonical: str) -> str:
    """The `alias` term saying that `key` (a name_key) names the entity `canonical` of type `kind`."""
    return f"{kind}{KEY_SEP}{key}{KEY_SEP}{keyword_term(canonical)}"


def alias_terms(entities: Iterable[Entity]) -> list[str]:
    """The `alias` terms of a document's entities: each surface form's key and the canonical name's own."""
    terms: dict[str, None] = {}
    for e in entities:
        for surface in (e.name, *e.aliases):
            key = name_key(surface)
            if key:
                terms[alias_term(e.type, key, e.name).replace(",", " ")] = None
    return list(terms)


def extraction_text(doc: Document) -> str:
    """What entities and dates are read from: the title, then the body. Not a title that the body starts
    with, nor a title set in capitals over a body ("BANKAMERICA SEES DIVIDEND"): the NER model, trained on
    mixed case, reads one as a string of names ("DIVIDEND", "BUY", "INDEX FALLS" were 300 of the 380
    entities that the capital titles of 600 Reuters articles added), and the body names the same things."""
    if not doc.title or doc.body.startswith(doc.title) or (doc.title.isupper() and doc.body.strip()):
        return doc.body
    return f"{doc.title}\n\n{doc.body}"


def locate(doc: Document, start: int, end: int) -> tuple[str, int, int] | None:
    """Where the characters [start, end) of extraction_text(doc) are: ("title" or "body", start, end)."""
    if extraction_text(doc) is doc.body or not doc.title:
        return ("body", start, end) if end <= len(doc.body) else None
    if end <= len(doc.title):
        return "title", start, end
    skip = len(doc.title) + 2
    return ("body", start - skip, end - skip) if start >= skip else None


def _located(doc: Document, spans: Iterable[tuple[int, int]]) -> list[list[Any]]:
    return [[where[0], where[1], where[2]] for a, b in spans if (where := locate(doc, a, b)) is not None]


def title_positions(title: str) -> int:
    """Token positions the title takes in `text`: the tokenizer gives every word one, even if a filter drops it."""
    return len(_WORD.findall(title))


def document_fields(doc: Document, extraction: Extraction, *, path: str, content_hash: str) -> dict[str, Any]:
    """The Whoosh fields for one document and what was extracted from it (None: not stored, not indexed). The
    document's own source is no organisation it mentions (extract/news.py)."""
    extraction = without_source(extraction, doc.source)
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
        "alias": ",".join(alias_terms(extraction.entities)) or None,
        "tags": ",".join(t.replace(",", " ") for t in doc.tags) or None,
        "source": doc.source or None,
        "published": published_day,
        "mentioned": " ".join(mentioned_periods),
        "mentioned_month": ",".join(mentioned_months),
        "published_raw": published.isoformat() if published else None,
        "url": doc.url,
        "author": doc.author,
        # [type, name, mentions, aliases, [[field, start, end], ...]]: spans in the stored title or body.
        "entities_json": [
            [e.type, e.name, e.mentions, list(e.aliases), _located(doc, e.spans)] for e in extraction.entities
        ]
        or None,
        "dates_json": [[d.value, d.precision, d.text, _located(doc, d.spans)] for d in extraction.dates] or None,
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
    extraction = Extraction(
        entities=tuple(
            Entity(e[1], e[0], e[2], aliases=tuple(e[3]) if len(e) > 3 else (), spans=_unlocated(doc, e, 4))
            for e in stored.get("entities_json") or ()
        ),
        dates=tuple(
            dataclasses.replace(mentioned_date(d[0], d[1], d[2]), spans=_unlocated(doc, d, 3))
            for d in stored.get("dates_json") or ()
        ),
    )
    return doc, extraction


def _unlocated(doc: Document, entry: Sequence[Any], at: int) -> tuple[tuple[int, int], ...]:
    """The spans of a stored entity or date (entry[at], in title and body) as offsets into extraction_text: the
    inverse of `locate` (older schema versions stored none)."""
    if len(entry) <= at:
        return ()
    whole = extraction_text(doc) is not doc.body and bool(doc.title)
    skip = len(doc.title) + 2 if whole else 0
    return tuple((a, b) if part == "title" else (a + skip, b + skip) for part, a, b in entry[at])


def record_from_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of a stored document: what /documents/<id> shows (search hits and similar documents show
    summary_from_stored)."""
    entities: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ENTITY_TYPES}
    title, body = stored.get("title") or "", stored.get("body") or ""
    for entry in stored.get("entities_json") or ():
        kind, name, mentions = entry[:3]
        entities[kind].append(
            {
                "name": name,
                "mentions": mentions,
                "aliases": list(entry[3]) if len(entry) > 3 else [],
                "spans": _spans_record(title, body, entry[4] if len(entry) > 4 else ()),
            }
        )
    return {
        **_shown_fields(stored),
        "author": stored.get("author"),
        "tags": [t for t in (stored.get("tags") or "").split(",") if t],
        "entities": entities,
        "dates": [
            {
                "value": d[0],
                "precision": d[1],
                "text": d[2],
                "spans": _spans_record(title, body, d[3] if len(d) > 3 else ()),
            }
            for d in stored.get("dates_json") or ()
        ],
    }


def summary_from_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """What a search hit shows of a stored document: the record's fields, entity names by type and date values,
    without the spans, mentions and aliases that hits do not show (building those cost as much as the rest)."""
    entities: dict[str, list[str]] = {kind: [] for kind in ENTITY_TYPES}
    for entry in stored.get("entities_json") or ():
        entities[entry[0]].append(entry[1])
    return {
        **_shown_fields(stored),
        "entities": entities,
        "dates": [d[0] for d in stored.get("dates_json") or ()],
    }


def _shown_fields(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": stored["id"],
        "title": stored.get("title", ""),
        "body": stored.get("body", ""),
        "published": stored.get("published_raw"),
        "url": stored.get("url"),
        "source": stored.get("source") or None,
    }


def _spans_record(title: str, body: str, spans: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Stored spans as the API shows them: the field, the offsets and the text they cover."""
    texts = {"title": title, "body": body}
    return [{"field": part, "start": a, "end": b, "text": texts[part][a:b]} for part, a, b in spans]
