"""Prefix, wildcard and fuzzy terms -> the index terms they stand for, found once per search, at a bounded cost.

Whoosh expands such a term each time it is asked for its terms: the document estimate, the count, the ranking,
pseudo-relevance feedback and the highlights each walked the lexicon again (about five walks a term), none of them
reading the clock, and a fuzzy term with no required prefix (`word~2/0`) built an edit-distance automaton over the
whole lexicon each time (300 ms a walk on 511 BBC articles). Here a search expands each such term once, before
anything else runs, into `Expanded`: a query holding the concrete terms, which every later phase reuses.

The cost is bounded by the work done, not only by what was found: every lexicon entry visited counts against
`max_visits`, whether or not it matches (a fuzzy term walks every entry that shares its required prefix; a
pattern every entry that shares its literal prefix), and the clock is read every VISITS_PER_CLOCK_CHECK entries.
Past `max_visits` or `max_terms` the query is refused (400 invalid_query); past the deadline expansion stops with
ExpansionTimedOut, and the search answers `timed_out: true`.

A fuzzy term keeps its MAX_FUZZY_EXPANSIONS closest terms (Lucene's FuzzyQuery default maxExpansions), nearest
first, then most frequent.
"""

from __future__ import annotations

import fnmatch
import heapq
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from whoosh import matching
from whoosh import query as wq
from whoosh.support.levenshtein import distance

from searchsvc.errors import QueryError

MAX_FUZZY_EXPANSIONS = 50
VISITS_PER_CLOCK_CHECK = 256
_EXPANDING = (wq.Prefix, wq.Wildcard, wq.FuzzyTerm)


class ExpansionTimedOut(Exception):
    """The deadline passed while walking the lexicon."""


class Expanded(wq.MultiTerm):
    """A prefix, wildcard or fuzzy query with its terms already found: matches, counts and highlights them without
    walking the lexicon again. Terms a segment lacks match nothing there (Whoosh's Term checks)."""

    def __init__(self, original: wq.Query, btexts: Iterable[bytes]) -> None:
        self.original = original
        self.fieldname = original.fieldname
        self.text = original.text
        self.boost = original.boost
        self.constantscore = original.constantscore
        self.btexts = tuple(btexts)

    def __repr__(self) -> str:
        return f"Expanded({self.original!r}, {len(self.btexts)} terms)"

    def __str__(self) -> str:
        return str(self.original)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expanded) and self.original == other.original and self.btexts == other.btexts

    def __hash__(self) -> int:
        return hash(self.original) ^ hash(self.btexts)

    def _btexts(self, ixreader: Any) -> Iterator[bytes]:
        return iter(self.btexts)

    def normalize(self) -> wq.Query:
        return self

    @property
    def stats_key(self) -> tuple[str, str]:
        """Where the collection statistics (cursors.Stats) hold the expansion's one document frequency: its
        pattern as written ("harb*", "harbor~1/0"), which no indexed word can spell."""
        original = self.original
        if isinstance(original, wq.FuzzyTerm):
            return self.fieldname, f"{original.text}~{original.maxdist}/{original.prefixlength}"
        return self.fieldname, pattern_text(self)

    def blended_frequency(self, doc_frequency: Callable[[str, bytes], int]) -> int:
        """The expansion's document frequency: its most frequent term's, for every one of its terms (Lucene's
        TopTermsBlendedFreqScoringRewrite, Elasticsearch's default for fuzzy queries). A rare variant (a
        misspelling that `harbor~1` reaches) weighs no more than the word meant, and the whole expansion has one
        frequency, which a cursor freezes with the query's terms. `doc_frequency`: (field, term) -> its count."""
        return max((doc_frequency(self.fieldname, t) for t in self.btexts if t), default=0)

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        """An Or of the terms, each scored with the expansion's blended frequency (`blended_frequency`) when
        the scoring can take it (service._FrozenBM25.blended). Whoosh's own matcher scored a `constantscore`
        pattern's terms with the searcher's live statistics instead of the search's, which a cursor could not
        freeze: a walk over `harb*` repeated documents while others were written."""
        weighting = getattr(context, "weighting", None)
        if weighting is not None and hasattr(weighting, "blended"):
            context = context.set(weighting=weighting.blended(searcher, self))
        terms = [wq.Term(self.fieldname, t) for t in self.btexts if t]
        if not terms:
            return matching.NullMatcher()
        if len(terms) == 1:  # as Whoosh's MultiTerm: the term alone, the boost dropped
            return terms[0].matcher(searcher, context)
        return wq.Or(terms, boost=self.boost).matcher(searcher, context)


def pattern_text(q: wq.Query) -> str:
    """The query-language spelling of a pattern, for error messages."""
    if isinstance(q, Expanded):
        q = q.original
    if isinstance(q, wq.Prefix):
        return f"{q.text}*"
    if isinstance(q, wq.FuzzyTerm):
        return f"{q.text}~{q.maxdist}"
    return str(q.text)


class Expander:
    """Expands the patterns of one search against one reader, each distinct pattern once, within one budget."""

    def __init__(self, reader: Any, *, max_terms: int, max_visits: int, deadline: float | None = None) -> None:
        self.reader = reader
        self.max_terms = max_terms
        self.max_visits = max_visits
        self.deadline = deadline
        self.visits = 0  # lexicon entries read
        self.terms = 0  # terms found (each distinct pattern counted once)
        self._cache: dict[tuple[Any, ...], tuple[bytes, ...]] = {}

    def expand(self, q: wq.Query) -> wq.Query:
        """`q` with every prefix, wildcard and fuzzy query replaced by an `Expanded` one."""
        if isinstance(q, _EXPANDING):
            return Expanded(q, self.terms_of(q))
        if not any(True for _ in expanding_queries(q)):
            return q
        return q.apply(self.expand)

    def terms_of(self, q: wq.Query) -> tuple[bytes, ...]:
        key = _key(q)
        if key not in self._cache:
            if q.fieldname not in self.reader.schema:
                found: tuple[bytes, ...] = ()
            elif isinstance(q, wq.FuzzyTerm):
                found = self._fuzzy(q)
            else:
                found = self._pattern(q)
            self._cache[key] = found
        return self._cache[key]

    def _walk(self, q: wq.Query, prefix: str) -> Iterator[bytes]:
        """The lexicon entries of q's field starting with `prefix`, each counted, the clock read now and then."""
        for btext in self.reader.expand_prefix(q.fieldname, prefix):
            self.visits += 1
            if self.visits > self.max_visits:
                raise QueryError(
                    f"`{pattern_text(q)}` and the other patterns read more than {self.max_visits} index terms;"
                    " make them more specific (a longer prefix)"
                )
            if self.deadline is not None and self.visits % VISITS_PER_CLOCK_CHECK == 0:
                if time.monotonic() > self.deadline:
                    raise ExpansionTimedOut
            yield btext

    def _found(self, q: wq.Query, n: int) -> None:
        self.terms += n
        if self.terms > self.max_terms:
            raise QueryError(
                f"`{pattern_text(q)}` and the other patterns match more than {self.max_terms} terms;"
                " make them more specific"
            )

    def _pattern(self, q: wq.Query) -> tuple[bytes, ...]:
        if isinstance(q, wq.Prefix):
            literal, match = q.text, None
        else:
            literal = re.split(r"[*?\[]", q.text, maxsplit=1)[0]
            match = re.compile(fnmatch.translate(q.text)).match
        from_bytes = self.reader.schema[q.fieldname].from_bytes
        found = []
        for btext in self._walk(q, literal):
            if match is None or match(from_bytes(btext)):
                found.append(btext)
                self._found(q, 1)
        return tuple(found)

    def _fuzzy(self, q: wq.FuzzyTerm) -> tuple[bytes, ...]:
        text, maxdist = q.text, int(q.maxdist)
        field = self.reader.schema[q.fieldname]
        size = len(text)
        close: list[tuple[int, int, bytes]] = []
        for btext in self._walk(q, text[: q.prefixlength]):
            word = field.from_bytes(btext)
            if abs(len(word) - size) > maxdist:
                continue
            d = distance(word, text, limit=maxdist)
            if d <= maxdist:
                close.append((d, -self.reader.doc_frequency(q.fieldname, btext), btext))
        best = tuple(btext for _, _, btext in heapq.nsmallest(MAX_FUZZY_EXPANSIONS, close))
        self._found(q, len(best))
        return best


def _key(q: wq.Query) -> tuple[Any, ...]:
    if isinstance(q, wq.FuzzyTerm):
        return ("fuzzy", q.fieldname, q.text, q.maxdist, q.prefixlength)
    return (type(q).__name__, q.fieldname, q.text)


def expanding_queries(q: wq.Query) -> Iterator[wq.Query]:
    """Prefix, wildcard and fuzzy queries in `q` (they expand to many terms at search time)."""
    if isinstance(q, _EXPANDING):
        yield q
        return
    for child in q.children():
        yield from expanding_queries(child)


def expansions(q: wq.Query) -> Iterator[Expanded]:
    """The expanded patterns in `q`, once expand_query ran."""
    if isinstance(q, Expanded):
        yield q
        return
    for child in q.children():
        yield from expansions(child)


def expand_query(
    q: wq.Query, reader: Any, *, max_terms: int, max_visits: int, deadline: float | None = None
) -> wq.Query:
    """`q` with its patterns expanded once (see the module docstring); raises QueryError past the budget."""
    return Expander(reader, max_terms=max_terms, max_visits=max_visits, deadline=deadline).expand(q)
