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
+0.024 on med. `title` and `body` stay for `title:`/`body:` queries and highlights. `body` keeps no positions:
they would repeat `text`'s, and dropping them cut the benchmark's index by 13 % (bench/, `make bench`); a
`body:"phrase"` is matched in `text` with every word required in `body` (query.py).

Tokenisation: words are runs of letters and digits, joined by inner apostrophes or periods ("o'neill", "u.s."),
so `*word*` loses its stars, a sentence's final period is dropped, and possessives are folded ("russia's" ->
"russia"): the same analyzer runs at index and query time, so phrases line up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from whoosh.analysis import (
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
)
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema

if TYPE_CHECKING:
    from searchsvc.documents import Document
    from searchsvc.extract.types import Entity, Extraction

# Schema version: bump when fields or analyzers change so an old index is rebuilt, not misread.
SCHEMA_VERSION = 3

WORD_PATTERN = r"\w+(?:['’.]\w+)*"
ENTITY_FIELDS = ("person", "org", "place")
TEXT_FIELDS = ("title", "body")
COMBINED_FIELD = "text"  # title x TITLE_WEIGHT + body, the default search field (see the module docstring)
TITLE_WEIGHT = 2
# Fields a user may name in a query (`person:lavrov`); the keyword fields match whole normalised names.
QUERYABLE_FIELDS = ("title", "body", "person", "org", "place", "entity", "tags", "source")


class PossessiveFilter(Filter):
    """Drops a trailing 's (straight or curly) and strips dots so "U.S." and "US" index alike."""

    def __call__(self, tokens):  # type: ignore[no-untyped-def]
        for t in tokens:
            text = t.text
            if text.endswith(("'s", "’s")):
                text = text[:-2]
            if "." in text:
                text = text.replace(".", "")
            if text:
                t.text = text
                yield t


def text_analyzer():  # type: ignore[no-untyped-def]
    """Stemmed analyzer for title and body (Porter stemming; stopwords kept, see the module docstring)."""
    return RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | PossessiveFilter() | StemFilter(cachesize=50_000)


def name_analyzer():  # type: ignore[no-untyped-def]
    """Unstemmed analyzer for entity names: `entity:lavrov` finds "Sergey Lavrov"."""
    return RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | PossessiveFilter()


def build_schema() -> Schema:
    return Schema(
        id=ID(unique=True, stored=True, sortable=True),
        title=TEXT(analyzer=text_analyzer(), stored=True, phrase=True, field_boost=2.0),
        body=TEXT(analyzer=text_analyzer(), stored=True, phrase=False),  # positions live in `text`
        text=TEXT(analyzer=text_analyzer(), phrase=True),
        entity=TEXT(analyzer=name_analyzer(), phrase=True),
        person=KEYWORD(commas=True, lowercase=True, sortable=True, scorable=False),
        org=KEYWORD(commas=True, lowercase=True, sortable=True, scorable=False),
        place=KEYWORD(commas=True, lowercase=True, sortable=True, scorable=False),
        tags=KEYWORD(commas=True, lowercase=True, stored=True),
        source=ID(stored=True),
        # ISO "YYYY-MM-DD"; empty when the document states no date.
        published=ID(stored=True, sortable=True),
        # Every day that starts or ends a mentioned date ("YYYY-MM-DD"), for range filters.
        mentioned=KEYWORD(stored=True),
        # "YYYY-MM" of each mentioned date, as a column for facets.
        mentioned_month=KEYWORD(commas=True, stored=True, sortable=True, scorable=False),
        # Stored as-is for results: full ISO datetime if known, url, author, JSON of entities and dates.
        published_raw=STORED(),
        url=STORED(),
        author=STORED(),
        entities_json=STORED(),
        dates_json=STORED(),
        # Bookkeeping for incremental indexing.
        path=ID(stored=True, sortable=True),
        content_hash=ID(stored=True, sortable=True),
    )


def combined_text(title: str, body: str) -> str:
    """The `text` field: the title TITLE_WEIGHT times, then the body."""
    return "\n".join([title] * TITLE_WEIGHT + [body]) if title else body


def _names(entities: Iterable[Entity], kind: str) -> str:
    return ",".join(e.name.replace(",", " ") for e in entities if e.type == kind)


def document_fields(doc: Document, extraction: Extraction, *, path: str, content_hash: str) -> dict[str, Any]:
    """The Whoosh fields for one document and what was extracted from it."""
    published = doc.published
    published_day = published.date().isoformat() if isinstance(published, dt.datetime) else (
        published.isoformat() if published else ""
    )
    mentioned_days = sorted({day.isoformat() for d in extraction.dates for day in (d.start, d.end)})
    mentioned_months = sorted({d.start.isoformat()[:7] for d in extraction.dates})
    return {
        "id": doc.id,
        "title": doc.title,
        "body": doc.body,
        "text": combined_text(doc.title, doc.body),
        "entity": "\n".join(e.name for e in extraction.entities),
        "person": _names(extraction.entities, "person"),
        "org": _names(extraction.entities, "org"),
        "place": _names(extraction.entities, "place"),
        "tags": ",".join(t.replace(",", " ") for t in doc.tags),
        "source": doc.source or "",
        "published": published_day,
        "mentioned": " ".join(mentioned_days),
        "mentioned_month": ",".join(mentioned_months),
        "published_raw": published.isoformat() if published else None,
        "url": doc.url,
        "author": doc.author,
        "entities_json": [[e.type, e.name, e.mentions] for e in extraction.entities],
        "dates_json": [[d.value, d.precision, d.text] for d in extraction.dates],
        "path": path,
        "content_hash": content_hash,
    }


def fields_from_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Whoosh fields rebuilt from a stored document, so a rebuild can carry it over without re-extraction."""
    entities = stored.get("entities_json") or []
    copied = ("id", "title", "body", "source", "published", "published_raw", "url", "author", "entities_json",
              "dates_json", "path", "tags", "content_hash", "mentioned",
              "mentioned_month")
    fields = {name: stored.get(name) for name in copied}
    fields.update(
        text=combined_text(stored.get("title") or "", stored.get("body") or ""),
        entity="\n".join(name for _, name, _ in entities),
        **{kind: ",".join(n for t, n, _ in entities if t == kind) for kind in ENTITY_FIELDS},
    )
    return {k: v for k, v in fields.items() if v is not None}


def record_from_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of a stored document: what /documents/<id> and search hits show."""
    entities: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ENTITY_FIELDS}
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
