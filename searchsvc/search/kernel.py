"""The search kernel: ranked queries answered from the derived posting arrays (index/postings.py) with numpy.

Whoosh's matchers score one document at a time in Python; here a query is evaluated per segment over dense arrays
(a match mask and a score per document), each term's whole posting array at once, as bm25s does. The scores are
the Whoosh path's, term for term: BM25 (service.BM25) with the same statistics (a cursor's frozen ones, or the live
ones), boosts multiplied where Whoosh's WrappingMatcher multiplies, sums where its union and intersection matchers
add, and Whoosh's quirks kept (a one-term prefix drops its boost; a lone child of a compound query drops the
compound's boost). Every term of an expansion scores with the expansion's one blended document frequency
(Expanded.blended_frequency), as Expanded's matcher does. tests/test_kernel.py holds the two
paths equal on random indexes, queries and deletions.

A phrase (or a `title:`/`body:` part) takes its candidates from the kernel (the AND of its words), then checks
their positions from the derived arrays, all candidates of a batch at once (a position is the key
document * 2**32 + position, and each word's keys are matched to the previous word's by np.searchsorted); a
field whose positions are not in the arrays has them verified by the Whoosh matcher of that one query instead,
skipping to each candidate. A query the kernel does not know raises Unsupported, and the service takes the
Whoosh path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from whoosh import query as wq

from searchsvc.index.postings import KERNEL_FIELDS, SegmentPostings
from searchsvc.index.schema import body_start
from searchsvc.search.expansion import Expanded
from searchsvc.search.field_parts import FieldPart
from searchsvc.search.selection import kth_largest

# Postings read (or candidates verified by Whoosh) between clock checks: the clock is read between segments and
# between batches of verified candidates, so a narrow search reads it never.
DEADLINE_EVERY = 1024
# Candidates whose positions the kernel checks between clock checks: each costs a few array elements, not a
# Whoosh skip, so a batch is larger than the verifier's.
POSITION_BATCH = 8 * DEADLINE_EVERY
_POSITION = np.int64(2**32 - 1)  # a position key's low half: document * 2**32 + position
# A union of sparse parts merges them by sorting (np.unique: some 40 ns a posting); adding them into one array per
# document costs a pass over the segment's documents (~0.3 ns a document) and a few ns a posting. Timed on random
# parts at 21k, 104k and 521k documents, the two cost the same where the parts hold about 1/128 of the documents
# (at 21k the pass was cheaper throughout): sorting below that share, adding above it.
SPARSE_SHARE = 128


class Unsupported(Exception):
    """The query holds something the kernel does not answer: use the Whoosh path."""


class KernelTimedOut(Exception):
    """The deadline passed before the first segment was answered."""


# BM25's term-frequency part, one function as in bm25s/scoring.py: `tf` and `fl` are whole arrays.
def bm25(idf: float, tf: np.ndarray, fl: np.ndarray, avgfl: float, b: float, k1: float) -> np.ndarray:
    """Whoosh's scoring.bm25, operation for operation (the same float64 results)."""
    return idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * fl / avgfl)))


def lucene_idf(documents: int, frequency: int) -> float:
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


class Statistics(Protocol):
    """What BM25 reads for a term (cursors.Stats: a cursor's first page's); the live ones for terms and fields
    it lacks."""

    @property
    def documents(self) -> int: ...

    @property
    def frequencies(self) -> dict[tuple[str, str], int]: ...

    @property
    def avg_lengths(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class _Live:
    documents: int
    frequencies: dict[tuple[str, str], int]
    avg_lengths: dict[str, float]


@dataclass
class Segment:
    postings: SegmentPostings
    offset: int  # global docnum of the segment's first document
    live: np.ndarray  # bool per document: not deleted


# One query on one segment: (match mask, score per document; 0 where not matched).
_Result = tuple[np.ndarray, np.ndarray]
# (query, segment index, ascending candidate docnums within the segment) -> the candidates the query matches.
Verifier = Callable[[wq.Query, int, np.ndarray], np.ndarray]
_Sparse = tuple[np.ndarray, np.ndarray]  # (matching docnums of the segment, ascending; their scores)


class _Dense(Exception):
    """A shape the sparse evaluator leaves to the dense one."""


def _no_matches() -> _Sparse:
    return np.zeros(0, dtype=np.int64), np.zeros(0)


def _holds(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Which of `needles` are in `haystack` (both ascending): a binary search each."""
    at = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return haystack[at] == needles if len(haystack) else np.zeros(len(needles), dtype=bool)


class Kernel:
    """The derived postings of one index view's segments. Shared by threads: a search's state lives in _Run."""

    def __init__(self, segments: Sequence[Segment], schema: Any, k1: float, b: float) -> None:
        self.segments = list(segments)
        self.schema = schema
        self.k1 = k1
        self.b = b
        self.documents = sum(s.postings.documents for s in self.segments)  # deleted ones included, as Whoosh counts
        self.field_totals: dict[str, float] = {}
        for s in self.segments:
            for name, total in s.postings.field_totals.items():
                self.field_totals[name] = self.field_totals.get(name, 0) + total

    def doc_frequency(self, fieldname: str, btext: bytes) -> int:
        total = 0
        for s in self.segments:
            i = s.postings.find(fieldname, btext)
            if i >= 0:
                total += s.postings.doc_frequency(i)
        return total

    def terms_starting(self, fieldname: str, prefix: str) -> list[str]:
        """The terms of `fieldname` that start with `prefix`, across segments, sorted (those only deleted
        documents hold too, as Whoosh's lexicon lists them)."""
        start = prefix.encode("utf-8")
        skip = len(fieldname.encode("utf-8")) + 1  # the key's "field\x00"
        found: set[str] = set()
        for s in self.segments:
            keys = s.postings.keys
            # No UTF-8 byte is 0xff: every term starting with `prefix` sorts below prefix + 0xff.
            found.update(keys[i][skip:].decode("utf-8") for i in s.postings.range(fieldname, start, start + b"\xff"))
        return sorted(found)

    def live_statistics(self) -> Statistics:
        return _Live(self.documents, {}, {})

    def avg_length(self, fieldname: str) -> float:
        return self.field_totals.get(fieldname, 0) / (self.documents or 1)

    def run(
        self,
        q: wq.Query,
        stats: Statistics,
        verify: Verifier,
        deadline: float | None = None,
        scored: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """(global docnums matching `q`, ascending; their scores; whether time ran out). Segments are answered in
        order; past `deadline` (read after each segment and while verifying positions) the rest are left out."""
        docs: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        timed_out = False
        work = 0  # postings read since the clock was last read
        for n, segment in enumerate(self.segments):
            run = _Run(self, segment, n, stats, verify, deadline, scored)
            sparse = run.sparse(q)
            if sparse is not None:
                matched, score = sparse
                live = segment.live[matched]
                docs.append(matched[live] + segment.offset)
                scores.append(score[live])
            else:
                mask, score = run.node(q)
                mask = mask & segment.live  # not in place: the mask may be a term's, memoised by the run
                found = np.flatnonzero(mask)
                docs.append(found.astype(np.int64) + segment.offset)
                scores.append(score[found])
            if run.timed_out:
                timed_out = True
                break
            work += run.work
            if work >= DEADLINE_EVERY and n + 1 < len(self.segments) and deadline is not None:
                work = 0
                if time.monotonic() > deadline:
                    timed_out = True
                    break
        if not docs:
            return np.zeros(0, dtype=np.int64), np.zeros(0), timed_out
        return np.concatenate(docs), np.concatenate(scores), timed_out


class _Run:
    """One query on one segment."""

    def __init__(
        self,
        kernel: Kernel,
        segment: Segment,
        index: int,
        stats: Statistics,
        verify: Verifier,
        deadline: float | None,
        scored: bool,
    ) -> None:
        self.kernel = kernel
        self.postings = segment.postings
        self.n = segment.postings.documents
        self.index = index
        self.stats = stats
        self.verify = verify
        self.deadline = deadline
        self.scored = scored
        self.timed_out = False
        self.batches = 0  # candidate batches verified: the first is, whatever the clock, so that a run gets somewhere
        self.work = 0  # postings read
        # (field, term, an expansion's frequency or None, scored) -> its unboosted result: `auto` queries hold
        # each word twice. Results are never changed in place.
        self.memo: dict[tuple[str, bytes, int | None, bool], _Result] = {}
        self.sparse_memo: dict[tuple[str, bytes, int | None], _Sparse] = {}
        self._no_scores: np.ndarray | None = None

    def empty(self) -> _Result:
        return np.zeros(self.n, dtype=bool), np.zeros(self.n) if self.scored else self.no_scores

    @property
    def no_scores(self) -> np.ndarray:
        """The score array of every unscored result (filters, counts): one, read-only."""
        if self._no_scores is None:
            self._no_scores = np.zeros(self.n)
            self._no_scores.flags.writeable = False
        return self._no_scores

    # -- terms ---------------------------------------------------------------------------------------------
    def _term_params(self, fieldname: str, btext: bytes, df: int | None) -> tuple[float, float]:
        kernel, stats = self.kernel, self.stats
        n = df if df is not None else stats.frequencies.get((fieldname, btext.decode("utf-8")))
        if n is None:
            n = kernel.doc_frequency(fieldname, btext)
        avgfl = stats.avg_lengths.get(fieldname) or kernel.avg_length(fieldname) or 1
        return lucene_idf(stats.documents, n), avgfl

    def blended(self, q: Expanded) -> int:
        """The document frequency every term of expansion `q` scores with (service._FrozenBM25.blended)."""
        n = self.stats.frequencies.get(q.stats_key)
        if n is None:
            n = q.blended_frequency(self.kernel.doc_frequency)
        return n

    def term(self, fieldname: str, btext: bytes, boost: float = 1.0, df: int | None = None) -> _Result:
        """A term's matches and scores; `df`: the document frequency it scores with (an expansion's)."""
        key = (fieldname, btext, df, self.scored)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._term(fieldname, btext, df)
        if boost == 1.0 or not self.scored:
            return found
        return found[0], found[1] * boost

    def _term(self, fieldname: str, btext: bytes, df: int | None) -> _Result:
        if fieldname not in KERNEL_FIELDS or fieldname not in self.kernel.schema:
            raise Unsupported(fieldname)
        mask, score = self.empty()
        i = self.postings.find(fieldname, btext)
        if i < 0:
            return mask, score
        docs, tf = self.postings.postings(i)
        self.work += len(docs)
        mask[docs] = True
        if not self.scored:
            return mask, score
        score[docs] = self._scores(fieldname, btext, docs, tf, df)
        return mask, score

    def _scores(self, fieldname: str, btext: bytes, docs: np.ndarray, tf: np.ndarray, df: int | None) -> np.ndarray:
        """The term's score in each of `docs` (its postings, weights `tf`): BM25, or for a field that is not
        scorable Whoosh's WeightScorer, the posting's weight."""
        lengths = self.postings.field_lengths(fieldname)
        if lengths is None:
            return tf.astype(np.float64)
        idf, avgfl = self._term_params(fieldname, btext, df)
        return bm25(idf, tf.astype(np.float64), lengths[docs].astype(np.float64), avgfl, self.kernel.b, self.kernel.k1)

    def _btext(self, fieldname: str, text: Any) -> bytes:
        if isinstance(text, bytes):
            return text
        try:
            return bytes(self.kernel.schema[fieldname].to_bytes(text))
        except (KeyError, ValueError):
            raise Unsupported(fieldname) from None

    def terms_or(self, fieldname: str, btexts: Sequence[bytes], boost: float, df: int | None) -> _Result:
        """Whoosh's MultiTerm.matcher: one term is that term (its boost dropped); more are an Or of them."""
        btexts = [t for t in btexts if t]
        if not btexts:
            return self.empty()
        if len(btexts) == 1:
            return self.term(fieldname, btexts[0], df=df)
        if not self.scored:  # a filter's range of days: every posting list marked at once
            mask = np.zeros(self.n, dtype=bool)
            found = [self.postings.find(fieldname, t) for t in btexts]
            parts = [self.postings.postings(i)[0] for i in found if i >= 0]
            if parts:
                docs = np.concatenate(parts)
                self.work += len(docs)
                mask[docs] = True
            return mask, self.no_scores
        # Many terms (a broad prefix): one accumulator, not an array pair per term.
        mask, score = self.empty()
        for t in btexts:
            m, s = self.term(fieldname, t, df=df)
            mask |= m
            if self.scored:
                score += s
        if self.scored and boost != 1.0:
            score *= boost
        return mask, score

    # -- sparse: the common shapes -------------------------------------------------------------------------
    def sparse(self, q: wq.Query) -> _Sparse | None:
        """A scored query made only of terms, their ORs and ANDs and phrases (what most searches are), as the
        documents it matches (ascending) and their scores: arrays as long as the postings read, not one value per
        document of the segment, which `node` allocates and zeroes several times a query (4 MB an array at 500k
        documents). The same values as `node`, added in the same order. None: another shape, for `node`."""
        if not self.scored:
            return None
        try:
            return self._sparse(q)
        except _Dense:
            return None

    def _sparse(self, q: wq.Query) -> _Sparse:
        if type(q) is wq.Term:
            docs, scores = self._sparse_term(q.fieldname, self._btext(q.fieldname, q.text))
            return docs, scores if q.boost == 1.0 else scores * q.boost
        if type(q) in (wq.Or, wq.And):
            if isinstance(q, wq.Or) and (q.minmatch or q.scale):
                raise _Dense
            subs = list(q.subqueries)
            if not subs:
                return _no_matches()
            if len(subs) == 1:  # CompoundQuery.matcher: the child alone, the compound's boost dropped
                return self._sparse(subs[0])
            docs, scores = self._sparse_sum([self._sparse(sub) for sub in subs], union=isinstance(q, wq.Or))
            return docs, scores if q.boost == 1.0 else scores * q.boost
        if type(q) is Expanded:  # terms_or, sparse
            btexts = [t for t in q.btexts if t]
            if not btexts:
                return _no_matches()
            df = self.blended(q)
            if len(btexts) == 1:  # MultiTerm.matcher: the term alone, the boost dropped
                return self._sparse_term(q.fieldname, btexts[0], df)
            parts = [self._sparse_term(q.fieldname, t, df) for t in btexts]
            docs, scores = self._sparse_sum(parts, union=True)
            return docs, scores if q.boost == 1.0 else scores * q.boost
        if type(q) is wq.Phrase and q.fieldname in self.kernel.schema and self._positional(q.fieldname):
            words = [self._btext(q.fieldname, w) for w in q.words]
            if not words:
                return _no_matches()
            docs, scores = self._sparse_sum([self._sparse_term(q.fieldname, w) for w in words], union=False)
            if q.boost != 1.0:
                scores = scores * q.boost
            kept = self._kept(docs, lambda d: self._in_order(q.fieldname, words, q.slop, d), POSITION_BATCH)
            at = np.searchsorted(docs, kept)
            return docs[at], scores[at]
        raise _Dense

    def _sparse_term(self, fieldname: str, btext: bytes, df: int | None = None) -> _Sparse:
        """_term's matches and scores, without the dense arrays."""
        if fieldname not in KERNEL_FIELDS or fieldname not in self.kernel.schema:
            raise _Dense  # node raises Unsupported
        key = (fieldname, btext, df)
        found = self.sparse_memo.get(key)
        if found is not None:
            return found
        i = self.postings.find(fieldname, btext)
        if i < 0:
            found = _no_matches()
        else:
            docs, tf = self.postings.postings(i)
            self.work += len(docs)
            found = (docs.astype(np.int64), self._scores(fieldname, btext, docs, tf, df))
        self.sparse_memo[key] = found
        return found

    def _sparse_sum(self, parts: list[_Sparse], union: bool) -> _Sparse:
        """The parts' documents (all of them, or those in every part) and their scores summed in the parts' order,
        as the dense sum adds whole arrays (a document missing from a part adds that part's 0.0). A union of many
        postings is added into one array per document (merging by sorting would cost more); an intersection
        looks the smallest part's documents up in the others (binary search, no sorting)."""
        if len(parts) == 1:
            return parts[0]
        if union:
            if sum(len(d) for d, _ in parts) * SPARSE_SHARE > self.n:
                score, mask = np.zeros(self.n), np.zeros(self.n, dtype=bool)
                for d, s in parts:
                    score[d] += s  # each part's documents are distinct
                    mask[d] = True
                docs = np.flatnonzero(mask)
                return docs, score[docs]
            docs, inverse = np.unique(np.concatenate([d for d, _ in parts]), return_inverse=True)
            # bincount adds each document's weights in input order, from 0.0: 0 + a + b, as the dense sum.
            return docs, np.bincount(inverse, weights=np.concatenate([s for _, s in parts]), minlength=len(docs))
        ordered = sorted(parts, key=lambda p: len(p[0]))
        docs = ordered[0][0]
        for d, _ in ordered[1:]:
            if not len(docs):
                return _no_matches()
            docs = docs[_holds(d, docs)]
        if not len(docs):
            return _no_matches()
        scores = np.zeros(len(docs))
        for d, s in parts:
            scores += s[np.searchsorted(d, docs)]
        return docs, scores

    # -- combining -----------------------------------------------------------------------------------------
    def _sum(self, parts: list[_Result], boost: float, union: bool) -> _Result:
        mask = parts[0][0].copy()
        for m, _ in parts[1:]:
            if union:
                mask |= m
            else:
                mask &= m
        if not self.scored:
            return mask, self.no_scores
        score = parts[0][1] + parts[1][1] if len(parts) > 1 else parts[0][1].copy()  # 0 + a + b, as Whoosh adds
        for _, s in parts[2:]:
            score += s
        if not union:
            score[~mask] = 0.0
        if boost != 1.0:
            score *= boost
        return mask, score

    def node(self, q: wq.Query) -> _Result:
        if isinstance(q, wq.Term):
            return self.term(q.fieldname, self._btext(q.fieldname, q.text), q.boost)
        if isinstance(q, Expanded):
            return self.terms_or(q.fieldname, q.btexts, q.boost, self.blended(q))
        if isinstance(q, wq.TermRange) and type(q) is wq.TermRange:
            return self.term_range(q)
        if isinstance(q, wq.Phrase):
            return self.phrase(q)
        if isinstance(q, FieldPart):
            return self.field_part(q)
        if isinstance(q, wq.NullQuery.__class__):
            return self.empty()
        if type(q) is wq.Every and q.fieldname in (None, "", "*"):
            score = np.full(self.n, q.boost or 1.0) if self.scored else np.zeros(self.n)
            return np.ones(self.n, dtype=bool), score
        if type(q) in (wq.Or, wq.And):
            if isinstance(q, wq.Or) and (q.minmatch or q.scale):
                raise Unsupported("Or with minmatch or scale")
            subs = list(q.subqueries)
            if not subs:
                return self.empty()
            if len(subs) == 1:  # CompoundQuery.matcher: the child alone, the compound's boost dropped
                return self.node(subs[0])
            if isinstance(q, wq.And):
                return self._and(subs, q.boost)
            return self._sum([self.node(s) for s in subs], q.boost, union=True)
        if isinstance(q, wq.AndMaybe) and type(q) is wq.AndMaybe:
            (am, ascore), (bm, bscore) = self.node(q.a), self.node(q.b)
            if self.scored:
                ascore = ascore + np.where(am & bm, bscore, 0.0)
            return am, ascore
        if isinstance(q, wq.AndNot):  # query.AndNot (its matcher fixed) or Whoosh's: both mean a minus b
            am, ascore = self.node(q.a)
            bm, _ = self.node_unscored(q.b)
            mask = am & ~bm
            return mask, np.where(mask, ascore, 0.0)
        if type(q) is wq.Require:
            am, ascore = self.node(q.a)
            bm, _ = self.node_unscored(q.b)
            mask = am & bm
            return mask, np.where(mask, ascore, 0.0)
        raise Unsupported(type(q).__name__)

    def _and(self, subs: list[wq.Query], boost: float) -> _Result:
        """Single terms first, rarest first: once nothing matches, the other parts (a broad text beside a filter
        that matches nothing, a phrase to verify) are not evaluated. Summed in the query's order."""
        order = sorted(range(len(subs)), key=lambda i: self._estimate(subs[i]))
        parts: dict[int, _Result] = {}
        matched: np.ndarray | None = None
        for i in order:
            parts[i] = self.node(subs[i])
            matched = parts[i][0] if matched is None else matched & parts[i][0]
            if not matched.any():
                return self.empty()
        return self._sum([parts[i] for i in range(len(subs))], boost, union=False)

    def _estimate(self, q: wq.Query) -> int:
        if isinstance(q, wq.Term):
            i = self.postings.find(q.fieldname, self._btext(q.fieldname, q.text))
            return self.postings.doc_frequency(i) if i >= 0 else 0
        return self.n + 1  # after the terms, in the query's order

    def node_unscored(self, q: wq.Query) -> _Result:
        scored, self.scored = self.scored, False
        try:
            return self.node(q)
        finally:
            self.scored = scored

    def term_range(self, q: wq.TermRange) -> _Result:
        """A day range (filters): this segment's terms from start to end, both included."""
        if q.start is None or q.end is None or q.startexcl or q.endexcl:
            raise Unsupported("open or exclusive range")
        lo, hi = self._btext(q.fieldname, q.start), self._btext(q.fieldname, q.end)
        keys = self.postings.keys
        prefix_len = len(q.fieldname.encode("utf-8")) + 1
        btexts = [keys[i][prefix_len:] for i in self.postings.range(q.fieldname, lo, hi)]
        return self.terms_or(q.fieldname, btexts, q.boost, None)

    # -- positions -----------------------------------------------------------------------------------------
    def _checked(
        self, mask: np.ndarray, score: np.ndarray, check: Callable[[np.ndarray], np.ndarray], batch: int
    ) -> _Result:
        """The candidates of `mask` that `check` (ascending docnums of this segment -> those that match) keeps, a
        batch at a time, the clock read between batches: past the deadline the rest are left out."""
        candidates = np.flatnonzero(mask)
        if not len(candidates):
            return mask, score
        kept = np.zeros(self.n, dtype=bool)
        kept[self._kept(candidates, check, batch)] = True
        return kept, np.where(kept, score, 0.0)

    def _kept(self, candidates: np.ndarray, check: Callable[[np.ndarray], np.ndarray], batch: int) -> np.ndarray:
        """The candidates (ascending) that `check` keeps, a batch at a time, the clock read before each but the run's
        first: once per node it was not, and a query of many phrases (60 of five words, slop 99) verified the first
        batch of every one past the deadline, 0.36 s over a bound of 0.2 s at 104k documents."""
        found = []
        for start in range(0, len(candidates), batch):
            if self.batches and self.deadline is not None and (self.timed_out or time.monotonic() > self.deadline):
                self.timed_out = True  # the candidates not checked are left out
                break
            found.append(np.asarray(check(candidates[start : start + batch]), dtype=np.int64))
            self.batches += 1
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def _verified(self, q: wq.Query, mask: np.ndarray, score: np.ndarray) -> _Result:
        """Positions checked by Whoosh (a field whose positions are not in the arrays)."""
        return self._checked(mask, score, lambda docs: self.verify(q, self.index, docs), DEADLINE_EVERY)

    def _positioned(self, mask: np.ndarray, score: np.ndarray, check: Callable[[np.ndarray], np.ndarray]) -> _Result:
        return self._checked(mask, score, check, POSITION_BATCH)

    def _keys(self, fieldname: str, btext: bytes, docs: np.ndarray) -> np.ndarray:
        """document * 2**32 + position of each position of the term in `docs` (documents that hold it), sorted."""
        of, positions = self.postings.positions_of(self.postings.find(fieldname, btext), docs)
        self.work += len(positions)
        return (of.astype(np.int64) << 32) | positions.astype(np.int64)

    def _in_order(
        self, fieldname: str, words: Sequence[bytes], slop: int, docs: np.ndarray, part: str | None = None
    ) -> np.ndarray:
        """The documents of `docs` (each holding every word) where the words stand in order, each 1..slop
        positions after the previous one, as Whoosh's SpanNear2Matcher (ordered, mindist 1) finds them: its spans
        grow by one word at a time, and a span's next word must start 1..slop past the span's end, the previous
        word's position; so only where each partial phrase ends is kept. With `part` (FieldPart), a `title`
        phrase ends inside the first title copy, a `body` phrase starts in the body."""
        ends = self._keys(fieldname, words[0], docs)
        if part == "body":
            ends = ends[(ends & _POSITION) >= self._body_starts(ends >> 32)]
        for word in words[1:]:
            if not len(ends):
                break
            keys = self._keys(fieldname, word, docs)
            before = np.searchsorted(ends, keys) - 1  # the nearest end before each position
            near = before >= 0
            near[near] = keys[near] - ends[before[near]] <= slop
            ends = keys[near]
        if part == "title":
            ends = ends[(ends & _POSITION) < self.postings.title_positions[ends >> 32]]
        return np.unique(ends >> 32)

    def _body_starts(self, docs: np.ndarray) -> np.ndarray:
        """schema.body_start of each document's title length (each distinct length computed once)."""
        lengths, inverse = np.unique(self.postings.title_positions[docs], return_inverse=True)
        return np.array([body_start(int(n)) for n in lengths], dtype=np.int64)[inverse]

    def _positional(self, fieldname: str) -> bool:
        return fieldname in self.postings.positional

    def phrase(self, q: wq.Phrase) -> _Result:
        """Candidates: every word (SpanNear2's intersection, whose score is the sum of the words' scores); then
        their positions: the sparse phrase's (`_sparse`), spread over the segment, when the arrays hold them."""
        if q.fieldname not in self.kernel.schema:
            return self.empty()
        if self._positional(q.fieldname):
            docs, scores = self._sparse(q)
            mask = np.zeros(self.n, dtype=bool)
            mask[docs] = True
            if not self.scored:
                return mask, self.no_scores
            score = np.zeros(self.n)
            score[docs] = scores
            return mask, score
        words = [self._btext(q.fieldname, w) for w in q.words]
        if not words:
            return self.empty()
        parts = [self.term(q.fieldname, w) for w in words]
        mask, score = parts[0] if len(parts) == 1 else self._sum(parts, 1.0, union=False)
        if self.scored and q.boost != 1.0:
            score = score * q.boost
        return self._verified(q, mask, score)

    def field_part(self, q: FieldPart) -> _Result:
        """`title:`/`body:`: the query on `text` (field_parts._with_spans scores a pattern's terms as an Or with
        the query's boost on each, with the searcher's statistics), then positions checked: a phrase as above, a
        word (or any word of a pattern) at a position inside the part."""
        inner = q.q
        words: list[bytes] = []
        if isinstance(inner, wq.Phrase):
            words = [self._btext(inner.fieldname, w) for w in inner.words]
            parts = [self.term(inner.fieldname, w, inner.boost) for w in words]
            mask, score = parts[0] if len(parts) == 1 else self._sum(parts, 1.0, union=False)
        elif isinstance(inner, Expanded):
            words = [t for t in inner.btexts if t and self.postings.find(inner.fieldname, t) >= 0]
            if not words:
                return self.empty()
            df = self.blended(inner)
            parts = [self.term(inner.fieldname, t, inner.boost, df) for t in words]
            mask, score = parts[0] if len(parts) == 1 else self._sum(parts, 1.0, union=True)
        elif isinstance(inner, wq.Term):
            mask, score = self.node(inner)
            words = [self._btext(inner.fieldname, inner.text)]
        else:
            raise Unsupported(f"FieldPart of {type(inner).__name__}")
        if not self._positional(inner.fieldname) or not words:
            return self._verified(q, mask, score)
        if isinstance(inner, wq.Phrase):
            return self._positioned(
                mask, score, lambda docs: self._in_order(inner.fieldname, words, inner.slop, docs, q.part)
            )
        return self._positioned(mask, score, lambda docs: self._in_part(inner.fieldname, words, docs, q.part))

    def _in_part(self, fieldname: str, words: Sequence[bytes], docs: np.ndarray, part: str) -> np.ndarray:
        """The documents of `docs` where any of `words` stands inside `part` (a word's span is its position)."""
        found = []
        for word in words:
            held = self.postings.postings(self.postings.find(fieldname, word))[0]
            mine = docs[np.isin(docs, held, assume_unique=True)]
            if not len(mine):
                continue
            keys = self._keys(fieldname, word, mine)
            of, position = keys >> 32, keys & _POSITION
            if part == "title":
                inside = position < self.postings.title_positions[of]
            else:
                inside = position >= self._body_starts(of)
            found.append(of[inside])
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def top(
    docs: np.ndarray,
    scores: np.ndarray,
    ranks: np.ndarray,
    wanted: int,
    digits: int,
    after: tuple[float, int] | None = None,
) -> list[tuple[float, int]]:
    """The best `wanted` of `docs` as (score rounded to `digits`, docnum): by rounded score, then by `ranks`
    (each docnum's place in id order); with `after` (rounded score, id rank), only those after it. numpy narrows
    the candidates; Python's round() settles the order, as the Whoosh path's collector rounds."""
    slack = 2 * 10.0**-digits
    if after is not None and len(docs):
        score_after, rank_after = after
        near = np.abs(scores - score_after) <= slack
        keep = scores < score_after - slack
        if near.any():
            idx = np.flatnonzero(near)
            exact = _rounded(scores[idx], digits)
            r = ranks[docs[idx]]
            keep[idx] = (exact < score_after) | ((exact == score_after) & (r >= rank_after))
        docs, scores = docs[keep], scores[keep]
    if wanted <= 0 or not len(docs):
        return []
    if len(docs) > wanted:
        keep = scores >= kth_largest(scores, wanted) - slack
        docs, scores = docs[keep], scores[keep]
    rounded = _rounded(scores, digits)
    order = np.lexsort((ranks[docs], -rounded))[:wanted]
    return [(float(rounded[i]), int(docs[i])) for i in order]


def _rounded(values: np.ndarray, digits: int) -> np.ndarray:
    """Python's round() of each value (numpy's round can differ in the last place), each distinct value once."""
    unique, inverse = np.unique(values, return_inverse=True)
    return np.array([round(float(v), digits) for v in unique])[inverse]
