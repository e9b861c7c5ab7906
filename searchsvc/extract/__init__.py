"""Entities (people, organisations, places) and mentioned dates of news texts.

`Extractor` (pipeline.py) is the only part that needs spaCy, and it imports it only when constructed; the
rules live in pure modules so that they can be tested without a model:

- types.py     result dataclasses
- names.py     cleaning one mention's text (titles, possessives, junk)
- places.py    canonical country names (pycountry + aliases)
- acronyms.py  "Long Form (LF)" definitions in the text
- entities.py  document-level resolution: short names, acronyms, one type per name, counts
- dates.py     date expression + tense + publication date -> MentionedDate
- tense.py     tense of the clause around a date, from a dependency parse
"""

from .pipeline import DEFAULT_MODEL, Extractor, ExtractorError
from .types import Entity, EntityType, Extraction, MentionedDate

__all__ = [
    "DEFAULT_MODEL",
    "Entity",
    "EntityType",
    "Extraction",
    "Extractor",
    "ExtractorError",
    "MentionedDate",
]
