"""Which documents match a query, by set algebra over posting lists: counts, facets and date sorts need every
matching document but no score, and decoding posting lists a block at a time is several times cheaper than
stepping Whoosh's matchers through every match.

An AND is computed from its smallest part: the other parts are only asked about those candidates, and a part
with many more postings than there are candidates is probed (`_Probe`): a block of postings whose header shows
it holds no candidate is passed over without being decoded. "pct AND cyclops" then decodes the blocks of "pct"
that hold one of the 210 documents of "cyclops", not all 31,000 postings.

The fast paths read the block data of Whoosh-Reloaded's W3LeafMatcher (the version is pinned); any other
matcher takes Whoosh's public, slower path.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from itertools import accumulate, islice
from typing import Any

from whoosh import query as wq
from whoosh.matching.wrappers import FilterMatcher
from whoosh.searching import Searcher

from searchsvc.search.expansion import Expanded

DEADLINE_EVERY = 1024  # postings read between clock checks


class TimedOut(Exception):
    """The deadline passed while reading posting lists."""


def _is_block_matcher(matcher: Any) -> bool:
    return type(matcher).__name__ == "W3LeafMatcher" and hasattr(matcher, "_read_data") and not matcher._byteids


def leaf_ids(matcher: Any) -> list[int]:
    """Every id of a fresh posting list, a block at a time: Whoosh's all_ids() steps one posting at a time and
    decodes each block's id deltas in a Python loop; here itertools.accumulate does it."""
    if not _is_block_matcher(matcher):
        return list(matcher.all_ids())
    out: list[int] = []
    while matcher.is_active():
        if matcher._data is None:
            matcher._read_data()
        ids = accumulate(matcher._data[0])
        out.extend(islice(ids, matcher._i, None) if matcher._i else ids)
        matcher._next_block()
    return out


class _Probe:
    """Which of some ascending docnums are in one posting list, decoding only the blocks that can hold them
    (a block's header gives its last id). Calls must ask in ascending order; an earlier docnum restarts."""

    def __init__(self, reader: Any, fieldname: str, text: Any) -> None:
        self.reader, self.fieldname, self.text = reader, fieldname, text
        self._restart()

    def _restart(self) -> None:
        matcher = self.reader.postings(self.fieldname, self.text)
        if isinstance(matcher, FilterMatcher):  # deletions: the candidates are live documents already
            matcher = matcher.child
        self.matcher = matcher
        self.block: set[int] | None = None  # the current block's ids, once decoded
        self.everything: set[int] | None = None  # the fallback for other matchers
        self.last = -1

    def among(self, docs: Sequence[int]) -> tuple[list[int], int]:
        """(the docs found in the posting list, how many postings were decoded)."""
        if docs[0] < self.last:
            self._restart()
        self.last = docs[-1]
        matcher = self.matcher
        if not _is_block_matcher(matcher):
            if self.everything is None:
                self.everything = set(matcher.all_ids())
                return [d for d in docs if d in self.everything], len(self.everything)
            return [d for d in docs if d in self.everything], 0
        found: list[int] = []
        decoded = 0
        i, n = 0, len(docs)
        while i < n and matcher.is_active():
            last_id = matcher._maxid
            if docs[i] > last_id:
                matcher._next_block()
                self.block = None
                continue
            if self.block is None:
                if matcher._data is None:
                    matcher._read_data()
                self.block = set(accumulate(matcher._data[0]))
                decoded += len(self.block)
            j = bisect.bisect_right(docs, last_id, i)
            block = self.block
            found.extend(d for d in islice(docs, i, j) if d in block)
            i = j
        return found, decoded


class DocSets:
    """Docnums of one segment matching queries. A term's posting list is read at most once per DocSets.
    Raises TimedOut once `deadline` has passed (the clock is read every DEADLINE_EVERY postings)."""

    def __init__(self, reader: Any, deadline: float | None = None) -> None:
        self.reader = reader
        self.terms: dict[tuple[str, Any], set[int]] = {}
        self.probes: dict[tuple[str, Any], _Probe] = {}
        self.deadline = deadline
        self.unchecked = 0  # postings read since the clock was last read

    def _read(self, n: int) -> None:
        self.unchecked += n + 1
        if self.deadline is not None and self.unchecked >= DEADLINE_EVERY:
            self.unchecked = 0
            if time.monotonic() > self.deadline:
                raise TimedOut

    def term(self, fieldname: str, text: Any) -> set[int]:
        key = (fieldname, text)
        if key not in self.terms:
            reader = self.reader
            if key not in reader:
                docs: set[int] = set()
            else:
                matcher = reader.postings(fieldname, text)
                if isinstance(matcher, FilterMatcher):  # a segment with deletions
                    docs = set(leaf_ids(matcher.child)) - set(reader.deleted_docs_set)
                else:
                    docs = set(leaf_ids(matcher))
            self.terms[key] = docs
            self._read(len(docs))
        return self.terms[key]

    def _estimate(self, q: wq.Query) -> int:
        try:
            return int(q.estimate_size(self.reader))
        except Exception:  # a query type without an estimate goes last
            return 1 << 62

    def of(self, q: wq.Query) -> set[int] | None:
        """None when `q` needs positions (phrases): those are counted by matching."""
        if isinstance(q, wq.Term):
            return self.term(q.fieldname, q.text)
        if isinstance(q, (wq.Prefix, wq.Wildcard, wq.FuzzyTerm, wq.TermRange, Expanded)):
            out: set[int] = set()
            for text in q._btexts(self.reader):
                out |= self.term(q.fieldname, text)
            return out
        if isinstance(q, wq.Every):
            return set(self.reader.all_doc_ids())
        if q is wq.NullQuery:
            return set()
        if isinstance(q, wq.And):
            return self._and(q.subqueries)
        if isinstance(q, (wq.Or, wq.DisjunctionMax)):
            parts = []
            for child in q.subqueries:
                docs = self.of(child)
                if docs is None:
                    return None
                parts.append(docs)
            if not parts:
                return set()
            return parts[0].union(*parts[1:])
        if isinstance(q, wq.AndMaybe):
            return self.of(q.a)
        if isinstance(q, (wq.AndNot, wq.Require)):
            a, b = self.of(q.a), self.of(q.b)
            if a is None or b is None:
                return None
            return a - b if isinstance(q, wq.AndNot) else a & b
        if isinstance(q, wq.ConstantScoreQuery):
            return self.of(q.child)
        return None

    def _and(self, subqueries: Sequence[wq.Query]) -> set[int] | None:
        # Smallest part first, by the index's estimate; the others are asked about its documents only, and a
        # filter that matches nothing costs no posting list of the other parts.
        parts = sorted(subqueries, key=self._estimate)
        if not parts:
            return set()
        first = self.of(parts[0])
        if first is None or not first or len(parts) == 1:
            return first
        found = self._narrow(parts[1:], sorted(first))
        return None if found is None else set(found)

    def _narrow(self, parts: Sequence[wq.Query], docs: list[int]) -> list[int] | None:
        """Those of `docs` that match every one of `parts`, asked in order; stops at the first empty answer."""
        for part in parts:
            found = self.among(part, docs)
            if not found:
                return found
            docs = found
        return docs

    def among(self, q: wq.Query, docs: list[int]) -> list[int] | None:
        """Those of `docs` (ascending docnums) that match `q`, ascending; None when `q` needs positions."""
        if not docs:
            return []
        if isinstance(q, wq.Term):
            key = (q.fieldname, q.text)
            if key not in self.reader:
                return []
            if key not in self.terms and len(docs) * 2 < self.reader.doc_frequency(q.fieldname, q.text):
                probe = self.probes.get(key)
                if probe is None:
                    probe = self.probes[key] = _Probe(self.reader, q.fieldname, q.text)
                found, decoded = probe.among(docs)
                self._read(decoded)
                return found
        elif isinstance(q, (wq.Or, wq.DisjunctionMax)):
            matched: set[int] = set()
            for child in q.subqueries:
                part = self.among(child, [d for d in docs if d not in matched] if matched else docs)
                if part is None:
                    return None
                matched.update(part)
            return [d for d in docs if d in matched]
        elif isinstance(q, wq.And):
            return self._narrow(sorted(q.subqueries, key=self._estimate), docs)
        elif isinstance(q, (wq.AndMaybe, wq.ConstantScoreQuery)):
            return self.among(q.a if isinstance(q, wq.AndMaybe) else q.child, docs)
        matching = self.of(q)
        if matching is None:
            return None
        return [d for d in docs if d in matching]


def _segment_lower_bound(q: wq.Query, reader: Any) -> int:
    """A cheap lower bound of the number of documents matching `q` in one segment, from document frequencies
    (deleted documents subtracted): enough to know that a count would pass `count_bound` without counting."""
    if isinstance(q, wq.Term):
        if (q.fieldname, q.text) not in reader:
            return 0
        return max(0, reader.doc_frequency(q.fieldname, q.text) - (reader.doc_count_all() - reader.doc_count()))
    if isinstance(q, (wq.Or, wq.DisjunctionMax)):
        return max((_segment_lower_bound(c, reader) for c in q.subqueries), default=0)
    if isinstance(q, wq.And):
        return _segment_lower_bound(q.subqueries[0], reader) if len(q.subqueries) == 1 else 0
    if isinstance(q, wq.AndMaybe):
        return _segment_lower_bound(q.a, reader)
    if isinstance(q, wq.Every):
        return int(reader.doc_count())
    return 0


def lower_bound(searcher: Searcher, q: wq.Query) -> int:
    """A cheap lower bound of the number of live documents matching `q` (0 when none is known)."""
    return sum(_segment_lower_bound(q, sub.reader()) for sub, _ in searcher.leaf_searchers())


def matching_docs(searcher: Searcher, q: wq.Query, deadline: float | None = None) -> set[int] | None:
    """Global docnums matching `q`, or None when set algebra does not apply (phrases); raises TimedOut past
    `deadline`."""
    out: set[int] = set()
    for sub, offset in searcher.leaf_searchers():
        docs = DocSets(sub.reader(), deadline).of(q)
        if docs is None:
            return None
        if offset:
            docs = {d + offset for d in docs}
        out |= docs
    return out
