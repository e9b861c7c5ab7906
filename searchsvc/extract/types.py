"""Result types of extraction, shared by the pure helpers and the spaCy-backed Extractor.

They are frozen dataclasses so that an Extraction can be cached, compared in tests and sent between processes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

EntityType = Literal["person", "org", "place"]
Precision = Literal["day", "week", "month", "year"]

# The entity types, in the order the API lists them: each is also an index field of its own (index/schema.py).
ENTITY_TYPES: tuple[EntityType, ...] = ("person", "org", "place")


@dataclass(frozen=True)
class Entity:
    """A person, organisation or place of one document, under its canonical name."""

    name: str
    type: EntityType
    mentions: int


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


@dataclass(frozen=True)
class Extraction:
    """Everything extracted from one document: entities sorted by (type, name), dates unique and by start."""

    entities: tuple[Entity, ...] = ()
    dates: tuple[MentionedDate, ...] = ()
