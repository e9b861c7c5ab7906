"""Result types of extraction, shared by the pure helpers and the spaCy-backed Extractor.

They are frozen dataclasses so that an Extraction can be cached, compared in tests and sent between processes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

EntityType = Literal["person", "org", "place"]
Precision = Literal["day", "week", "month", "year"]

# The entity types, in the order the API lists them: each is also an index field of its own (index/schema.py).
ENTITY_TYPES: tuple[EntityType, ...] = ("person", "org", "place")


@dataclass(frozen=True)
class RawMention:
    """One named-entity span as the tagger gave it; offsets are characters into the document (-1: unknown)."""

    text: str
    label: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class Entity:
    """A person, organisation or place of one document, under its canonical name.

    `aliases` are the ways the document wrote it (cleaned: "Lavrov", "Sergey Lavrov"), so that a search for any
    of them finds the canonical name and an entity can say where its name came from; `spans` are the character
    offsets of its mentions in the text extracted from. Neither takes part in equality."""

    name: str
    type: EntityType
    mentions: int
    aliases: tuple[str, ...] = field(default=(), compare=False)
    spans: tuple[tuple[int, int], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class MentionedDate:
    """A date a document talks about, at the precision it was written with.

    `value` is ISO at its own precision ("2021-03-22", "2021-W12", "2021-03", "2021"), so that it can be
    indexed as a keyword; `start`/`end` are the first and last day covered, so that it can be range-queried.
    """

    value: str
    precision: Precision
    start: dt.date
    end: dt.date
    text: str
    # Character offsets of each expression of this date in the text extracted from (not part of equality).
    spans: tuple[tuple[int, int], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Extraction:
    """Everything extracted from one document: entities sorted by (type, name), dates unique and by start."""

    entities: tuple[Entity, ...] = ()
    dates: tuple[MentionedDate, ...] = ()
