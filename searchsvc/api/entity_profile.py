"""An entity's profile for its page, built from what the search service offers: a search filtered on the entity
gives its documents and count, the published facet its timeline and first and last months, the entity facets
the names seen with it, and one more search, oldest first, its first publication date.

The page reads only `EntityProfile`, so when the service gains an entity lookup of its own (aliases,
exact first and last dates, co-occurrence counts), `entity_profile` can call it instead and the page stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from searchsvc.extract.types import ENTITY_TYPES
from searchsvc.search.requests import FACETS, Filters, SearchRequest, normalise_name
from searchsvc.search.service import Hit, SearchService

MONTH_FACET_SIZE = 1200  # months counted for a timeline: a century of them
SEEN_WITH = 10  # names listed per entity type


@dataclass(frozen=True)
class EntityProfile:
    kind: str
    name: str  # as documents write it
    total: int
    total_relation: str
    first_published: str | None
    last_published: str | None
    documents: list[Hit]
    seen_with: dict[str, list[dict[str, Any]]]  # entity type -> [{"value": name, "count": documents}]
    published_months: list[dict[str, Any]]
    mentioned_months: list[dict[str, Any]]
    aliases: tuple[str, ...] = field(default=())  # how its newest documents wrote it


def entity_profile(service: SearchService, kind: str, name: str, documents: int = 20) -> EntityProfile:
    """The profile of the entity `name` of type `kind` (raises ParameterError for an unknown type or empty name)."""
    names: dict[str, Any] = {kind: (name,)}
    filters = Filters(**names)
    newest = service.search(
        SearchRequest(
            filters=filters,
            sort="-published",
            limit=documents,
            facets=FACETS,
            facet_size=MONTH_FACET_SIZE,
            highlight=False,
        )
    )
    display = _canonical(name, service.canonical_terms(kind, name), newest.facets.get(kind, []))
    shown = normalise_name(display)
    seen_with: dict[str, list[dict[str, Any]]] = {}
    for other in ENTITY_TYPES:
        values = [v for v in newest.facets.get(other, []) if other != kind or normalise_name(v["value"]) != shown]
        seen_with[other] = values[:SEEN_WITH]
    published = sorted(newest.facets.get("published", []), key=lambda v: v["value"])
    first = last = None
    if newest.hits:
        last = newest.hits[0].published
        oldest = service.search(SearchRequest(filters=filters, sort="published", limit=1, highlight=False))
        first = oldest.hits[0].published if oldest.hits else None
    if first is None and published:
        first = published[0]["value"]
    if last is None and published:
        last = published[-1]["value"]
    return EntityProfile(
        kind=kind,
        name=display,
        total=newest.total,
        total_relation=newest.total_relation,
        first_published=first,
        last_published=last,
        documents=newest.hits,
        seen_with=seen_with,
        published_months=published,
        mentioned_months=newest.facets.get("mentioned", []),
        aliases=_aliases(service, kind, shown, newest.hits),
    )


def _canonical(name: str, terms: list[str], values: list[dict[str, Any]]) -> str:
    """The name the index holds for the entity asked as `name` (what "U.S." resolves to), as its facet writes
    it: the most frequent value among the canonical names `terms`; else `name` as written."""
    for value in values:  # most documents first
        if normalise_name(value["value"]) in terms:
            return str(value["value"])
    return name


def _aliases(service: SearchService, kind: str, key: str, hits: list[Hit]) -> tuple[str, ...]:
    """The surface forms the documents listed wrote the entity as (each document keeps its own, with spans)."""
    seen: dict[str, None] = {}
    for hit in hits:
        record = service.get_document(hit.id)
        for entity in (record or {}).get("entities", {}).get(kind, []):
            if normalise_name(entity["name"]) == key:
                seen.update(dict.fromkeys([entity["name"], *entity.get("aliases", [])]))
    return tuple(seen)
