"""One canonical name per entity across the archive, decided at read time from what the index holds.

Extraction names an entity by what one document says ("Reagan" in a story that never gives his first name).
Across the archive, the index itself says more, and this module reads it (no reindex):

- the alias table (the `alias` field, index/schema.py): every document that resolved a written form to a
  fuller name ("Reagan" -> "Ronald Reagan", "Treasury" -> "U.S. Treasury", "Fed" defined as "Federal Reserve")
  is one vote that documents writing only that form mean the fuller name;
- a one-word person name is a vote, per document, for each multi-word person name ending with it ("Reagan" ->
  "Ronald Reagan"): a surname on its own means the full name that the archive gives it;
- an organisation name ending in a generic word ("Federal Reserve Board", "Texaco Inc") is the same body as
  the name without it, when the archive writes that name too ("Federal Reserve", "Texaco");
- "Department of Agriculture" and "Agriculture Department" (or Ministry) are one body, named as the archive
  writes it more often;
- a one-word organisation name that clips the first word of longer ones ("Fed") is the one of them it shares
  documents with (DOMINANCE of the documents it shares with any: "Federal Reserve", not "Federal Deposit
  Insurance Corp");
- a one-word organisation name of two to five letters ("USDA") is the one organisation of the archive whose
  initials spell it ("U.S. Department of Agriculture", "U.S." giving "US"), when one holds DOMINANCE of the
  documents of those that do.

A name follows the votes only when one fuller name holds at least DOMINANCE of them: a surname shared by two
people the archive mentions alike ("Baker": James Baker, Howard Baker) stays as written. Chains are followed
("Fed" -> "Federal Reserve Board" -> "Federal Reserve").

Properties: stable (a pure function of the index's terms and their document counts, ties broken by name, so
re-indexing the same files gives the same names); incremental (a new document that links two names adds the
alias term that merges them, and every existing document follows on the next index generation); explainable
(each document keeps its own names and surface forms in its stored record; `members` lists what was merged).
The mapping is computed once per index reader (one per index generation and thread) and cached with it.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from searchsvc.extract.canonical import name_key
from searchsvc.index.schema import KEY_SEP

DOMINANCE = 0.9  # share of the votes one fuller name needs to take a shorter one
# A fuller name votes only when at least this many documents write it ("Athough Reagan", a tagger's slip in one
# document, does not make "Reagan" ambiguous), and a name follows only this many votes or more.
MIN_DOCUMENTS = 3
# An organisation's short form follows a fuller name only when the archive writes that name at least this share as
# often as the short one: "Fed" (196 documents) is not the "New York Fed" (10) a few documents resolved it to,
# nor "Chrysler" (110 with "Chrysler Corp") its "Chrysler Financial" (10).
MIN_ATTESTED = 0.5
MAX_CLIPPED = 50  # longer names a clipped one ("Fed") is compared with, by the documents they share
# Last words of an organisation's name that do not change which body it is, when the archive writes the rest too.
GENERIC_ORG_WORDS = frozenset(
    "board system inc inc. corp corp. corporation co co. cos ltd ltd. plc llc group company holdings".split()
)


@dataclass(frozen=True)
class ArchiveNames:
    """Keyword terms of one entity type -> the term of their archive-wide canonical name (merged ones only)."""

    canonical: dict[str, str] = field(default_factory=dict)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical term -> every term merged in it

    def of(self, term: str) -> str:
        """The canonical term of `term` (itself when nothing merges it)."""
        return self.canonical.get(term, term)

    def group(self, term: str) -> tuple[str, ...]:
        """Every term that names the same entity as `term`, its canonical term first."""
        root = self.of(term)
        return self.members.get(root, (root,))


def _text(term: Any) -> str:
    return term.decode("utf-8") if isinstance(term, bytes) else str(term)


def _lexicon(reader: Any, fieldname: str, prefix: str = "") -> Iterable[tuple[str, int]]:
    """The field's terms starting with `prefix` and their document counts, in term order. Read segment by
    segment: a reader of several segments looks every term up in each of them (104k articles after a few HTTP
    writes: 67,000 terms, 2.3 s of every new view's first faceted search)."""
    if fieldname not in reader.schema:
        return []
    counts: dict[str, int] = {}
    for leaf, _ in reader.leaf_readers():
        for term, info in leaf.iter_prefix(fieldname, prefix):
            text = _text(term)
            counts[text] = counts.get(text, 0) + info.doc_frequency()
    return sorted(counts.items())


def compute(
    terms: dict[str, int],
    links: Iterable[tuple[str, str, int]],
    kind: str,
    together: Callable[[str, str], int] | None = None,
) -> ArchiveNames:
    """The mapping for one entity type from its terms (term -> documents), the alias table's links (name key
    of a written form, canonical term it resolved to, documents) and, for clipped organisation names, how many
    documents hold two terms (`together`): a pure function of them."""
    # First the forms that are one name by their shape alone ("Federal Reserve Board", "Department of X"), so
    # that the votes below count for a body however it is written.
    edges: dict[str, str] = _org_shapes(terms) if kind == "org" else {}
    group_of = {term: _follow(edges, term) for term in terms}
    group_docs: dict[str, int] = defaultdict(int)
    for term, group in group_of.items():
        group_docs[group] += terms[term]

    votes: dict[str, dict[str, int]] = defaultdict(dict)

    def vote(term: str, target: str, count: int) -> None:
        group = group_of.get(target, target)
        if terms.get(target, 0) >= MIN_DOCUMENTS and group != group_of[term]:
            votes[term][group] = votes[term].get(group, 0) + count

    by_key: dict[str, list[str]] = defaultdict(list)
    for term in terms:
        by_key[name_key(term)].append(term)
    for key, target, count in links:
        for term in by_key.get(key, ()):
            vote(term, target, count)
    if kind == "person":
        by_surname: dict[str, list[str]] = defaultdict(list)
        for term in terms:
            if " " in term:
                by_surname[term.split()[-1]].append(term)
        for term in terms:
            for full in by_surname.get(term, ()) if " " not in term else ():
                vote(term, full, terms[full])
    if kind == "org":  # "USDA": the organisations whose initials spell it
        by_initials: dict[str, list[str]] = defaultdict(list)
        for term in terms:
            if " " in term:
                by_initials[_initials(term)].append(term)
        for term in terms:
            if " " not in term and 2 <= len(term.replace(".", "")) <= 5 and term not in votes:
                for long in by_initials.get(term.replace(".", ""), ()):
                    vote(term, long, terms[long])

    def elect() -> None:
        for term, candidates in sorted(votes.items()):
            if term in edges:
                continue
            best = min(candidates, key=lambda c: (-candidates[c], c))
            attested = kind == "person" or group_docs[best] >= MIN_ATTESTED * group_docs[group_of[term]]
            if candidates[best] >= max(MIN_DOCUMENTS, DOMINANCE * sum(candidates.values())) and attested:
                edges[term] = best

    elect()
    # Then, on their own evidence, the clipped names that nothing above resolved.
    votes.clear()
    if kind == "org" and together is not None:  # "Fed": the organisations whose first word it clips
        firsts = sorted((term.split()[0], term) for term in terms if " " in term and terms[term] >= MIN_DOCUMENTS)
        for term in terms:
            if term in edges or " " in term or not term.isalpha() or len(term) < 3 or terms[term] < MIN_DOCUMENTS:
                continue
            at = bisect.bisect_left(firsts, (term, ""))
            clipped: list[str] = []
            while at < len(firsts) and firsts[at][0].startswith(term):
                if firsts[at][0] != term:
                    clipped.append(firsts[at][1])
                at += 1
            clipped.sort(key=lambda long: (-terms[long], long))  # the best-attested first
            for long in clipped[:MAX_CLIPPED]:
                vote(term, long, together(term, long))
    elect()
    canonical: dict[str, str] = {}
    for term in sorted(edges):
        path = [term]
        seen = {term}
        while path[-1] in edges and edges[path[-1]] not in seen:
            path.append(edges[path[-1]])
            seen.add(path[-1])
        root = path[-1]
        if root in edges:  # a cycle: its best-attested name is the root, for everyone on it
            cycle = path[path.index(edges[root]) :]
            root = min(cycle, key=lambda t: (-terms.get(t, 0), -len(t.split()), t))
        if root != term:
            canonical[term] = root
    members: dict[str, list[str]] = defaultdict(list)
    for term, root in sorted(canonical.items()):
        members[root].append(term)
    return ArchiveNames(canonical, {root: (root, *names) for root, names in members.items()})


_SMALL_WORDS = frozenset("of the and for & de".split())
_BODIES = ("department", "ministry")


def _inverted(term: str) -> str | None:
    """ "u.s. department of agriculture" <-> "u.s. agriculture department", else None."""
    words = term.split()
    for body in _BODIES:
        if body in words[:-1] and words[words.index(body) + 1 : words.index(body) + 2] == ["of"]:
            at = words.index(body)
            rest = [w for w in words[at + 2 :] if w != "the"]
            return " ".join([*words[:at], *rest, body]) if rest else None
        if len(words) >= 2 and words[-1] == body and words[-2] not in _SMALL_WORDS:
            head = [w for w in words[:-1] if w[:1].isalpha()]
            if not head:
                return None
            lead = [w for w in head if "." in w]  # "u.s." stays in front
            middle = [w for w in head if "." not in w]
            return " ".join([*lead, body, "of", *middle]) if middle else None
    return None


def _initials(term: str) -> str:
    letters = []
    for word in term.split():
        if word in _SMALL_WORDS:
            continue
        letters.append(word.replace(".", "") if "." in word else word[:1])
    return "".join(letters)


def _follow(edges: dict[str, str], term: str) -> str:
    seen = {term}
    while term in edges and edges[term] not in seen:
        term = edges[term]
        seen.add(term)
    return term


def _org_shapes(terms: dict[str, int]) -> dict[str, str]:
    """Edges between organisation names that are one body by their shape: a generic last word dropped
    ("Federal Reserve Board" -> "Federal Reserve"), and "X Department" / "Department of X" (to the form the
    archive writes more often)."""
    edges: dict[str, str] = {}
    for term in terms:
        words = term.split()
        while len(words) > 1 and words[-1] in GENERIC_ORG_WORDS:
            words = words[:-1]
            if " ".join(words) in terms:
                edges[term] = " ".join(words)
                break
    for term in terms:
        other = _inverted(term)
        if other is not None and other in terms and term not in edges:
            if (terms[other], other) > (terms[term], term):
                edges[term] = other
    return edges


_cache: weakref.WeakKeyDictionary[Any, dict[str, ArchiveNames]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def archive_names(reader: Any, kind: str) -> ArchiveNames:
    """The archive-wide names of entity type `kind` for this index reader (computed once per reader)."""
    with _lock:
        known = _cache.get(reader, {}).get(kind)
    if known is not None:
        return known
    terms = dict(_lexicon(reader, kind))
    prefix = f"{kind}{KEY_SEP}"
    links = []
    for text, count in _lexicon(reader, "alias", prefix):
        key, _, target = text[len(prefix) :].partition(KEY_SEP)
        links.append((key, target, count))

    held: dict[str, set[int]] = {}

    def together(a: str, b: str) -> int:
        for term in (a, b):
            if term not in held:
                held[term] = _live_docs(reader, kind, term)
        return len(held[a] & held[b])

    names = compute(terms, links, kind, together)
    with _lock:
        _cache.setdefault(reader, {})[kind] = names
    return names


def _live_docs(reader: Any, kind: str, term: str) -> set[int]:
    if (kind, term) not in reader:
        return set()
    return {d for d in reader.postings(kind, term).all_ids() if not reader.is_deleted(d)}


def merged_top(reader: Any, kind: str, scan: Iterable[tuple[int, Any]], limit: int) -> list[tuple[int, str]]:
    """The `limit` entities with most documents among `scan`'s (documents, term), each under its archive-wide
    name with the documents of every name merged in it (autocomplete: "reag" offers Ronald Reagan once)."""
    names = archive_names(reader, kind)
    bound: dict[str, int] = {}  # canonical term -> documents (an upper bound when several names merged)
    for count, term in scan:
        root = names.of(_text(term))
        if root in bound:
            continue
        group = names.group(root)
        bound[root] = count if len(group) == 1 else sum(reader.doc_frequency(kind, t) for t in group)
    ranked = sorted(bound.items(), key=lambda rc: (-rc[1], rc[0]))[: max(0, limit) * 2]
    exact = []
    for root, count in ranked:
        if len(names.group(root)) > 1:
            count = len(set().union(*(_live_docs(reader, kind, t) for t in names.group(root))))
        if count:
            exact.append((count, root))
    exact.sort(key=lambda cr: (-cr[0], cr[1]))
    return exact[:limit]
