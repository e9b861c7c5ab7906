"""The one canonicaliser of entity names, used by extraction, the index, the search filters and autocomplete.

Two parts, both pure:

- `name_key`: the comparison key of a way of writing a name (accents folded, case and dots ignored, commas
  and runs of spaces one space), so that "Nicolas Maduro", "nicolás maduro" and "NICOLÁS MADURO" compare
  equal, and "U.S." and "US" too. The index keys its alias table by it (index/schema.py), and the query side
  looks a filter's value up by the same key: what the index normalises, a filter normalises alike.
- `static_canonical`: the name that every document uses for a country ("U.S." -> "United States") or a
  well-known acronym ("NATO" -> "North Atlantic Treaty Organization"), known without any index; a name the
  index has never seen still resolves by it.
"""

from __future__ import annotations

import functools
import unicodedata

from .acronyms import known_long_form
from .places import canonical_country
from .types import EntityType


@functools.lru_cache(maxsize=65536)
def fold_accents(text: str) -> str:
    """ "Nicolás" -> "Nicolas": combining marks dropped after NFKD (letters such as "ø" are kept)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """The comparison key of a name: accents folded, lower case, dots dropped, apostrophes straightened,
    commas and white space as single spaces ("U.S." and "us" -> "us"; "Nicolás Maduro" -> "nicolas maduro")."""
    text = fold_accents(name).lower().replace(".", "").replace(",", " ")
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


def static_canonical(name: str, kind: EntityType | None = None) -> str | None:
    """The canonical name of a country (a place) or of a well-known acronym (an organisation), else None."""
    if kind in (None, "place"):
        country = canonical_country(name) or canonical_country(fold_accents(name))
        if country is not None:
            return country
    if kind in (None, "org"):
        return known_long_form(name) or known_long_form(name.upper() if len(name) <= 6 else name)
    return None


def keyword_term(name: str) -> str:
    """An entity name as the index's keyword fields (person, org, place) hold it: lower case, commas as spaces,
    single spaces. The term of the canonical name, which alias lookups resolve to."""
    return " ".join(name.replace(",", " ").lower().split())
