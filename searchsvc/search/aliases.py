"""Entity names as a user writes them -> the canonical names the index holds, through the index's alias table.

The table is the `alias` field (index/schema.py): one term per way a document wrote an entity, keyed by
extract/canonical.py's `name_key`. Filters, `person:`-style query fields and autocomplete all look names up
here, so the search normalises a name exactly as the index did: accents, case and dots do not matter, and any
surface form a document used ("U.S.", "US", "Reagan") reaches the canonical names it was indexed under. A name
no document wrote still resolves by the static rules (countries, well-known acronyms).
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from searchsvc.extract.canonical import keyword_term, name_key, static_canonical
from searchsvc.index.schema import KEY_SEP
from searchsvc.search.archive_names import archive_names

# Canonical names one written name may stand for (a surname shared by many people), and alias terms read for
# one autocomplete prefix: both bound the lexicon walked per request.
MAX_NAMES = 50
MAX_PREFIX_TERMS = 5000


def canonical_terms(reader: Any, kind: str, value: str) -> list[str]:
    """The keyword terms of every canonical name `value` may mean for `kind`: the static canonical name, the
    names the alias table gives for its key, and the name as given; each with every name the archive merges
    with it (search/archive_names.py: `person=Reagan` finds "Ronald Reagan" too, and the other way round)."""
    out: dict[str, None] = {}
    static = static_canonical(value, kind)  # type: ignore[arg-type]
    if static is not None:
        out[keyword_term(static)] = None
    key = name_key(value)
    if key and "alias" in reader.schema:
        prefix = f"{kind}{KEY_SEP}{key}{KEY_SEP}"
        for term in islice(reader.expand_prefix("alias", prefix), MAX_NAMES):
            text = term.decode("utf-8") if isinstance(term, bytes) else term
            out[text[len(prefix) :]] = None
    out.setdefault(keyword_term(value), None)
    if kind in reader.schema:
        names = archive_names(reader, kind)
        for term in list(out):
            for other in names.group(term):
                out.setdefault(other, None)
    return [t for t in out if t]


def completions(reader: Any, kind: str, prefix: str) -> set[str]:
    """Keyword terms of the canonical names of which some surface form starts with `prefix` (by name key)."""
    key = name_key(prefix)
    if not key or "alias" not in reader.schema:
        return set()
    start = f"{kind}{KEY_SEP}{key}"
    out = set()
    for term in islice(reader.expand_prefix("alias", start), MAX_PREFIX_TERMS):
        text = term.decode("utf-8") if isinstance(term, bytes) else term
        out.add(text.rsplit(KEY_SEP, 1)[1])
    if kind in reader.schema:
        names = archive_names(reader, kind)
        out = {names.of(t) for t in out}
    static = static_canonical(prefix, kind)  # type: ignore[arg-type]
    if static is not None:
        out.add(keyword_term(static))
    return out
