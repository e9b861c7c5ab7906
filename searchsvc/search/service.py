"""Running searches: ranking (BM25F), filters, facets, highlights, sorting and pagination -> plain results.

One `SearchService` per process keeps the index open. Whoosh searchers read posting files through shared
seek/read file objects, so a searcher must not be used by two threads at once: each worker thread gets its own
long-lived searcher of the current index "view". Every `refresh_interval` seconds at most, the service checks
the store's marker (rewritten by every rebuild and every in-place update) and Whoosh's TOC; when either moved,
a new view is opened and swapped in. Requests already running keep the view they started with; a retired view
is closed when its last request ends.

Counting is bounded like Elasticsearch's `track_total_hits`, and kept off the ranking's path (the ranking
then skips low-scoring blocks exactly as Whoosh's own top-N collector does):
  - when document frequencies alone prove more than `count_bound` matches, `total` is `count_bound` with
    `total_relation: "gte"`, and nothing is counted;
  - otherwise the matching documents are computed by set algebra over posting lists (docsets.py: several
    times cheaper than stepping a matcher) and the count is exact; facets and date sorts use the same set;
  - queries with phrases need positions, so their matches are counted by the ranking collector itself, which
    skips nothing until `count_bound` matches were counted (then `gte`); so are ANDs without facets, whose
    ranking visits most of their matches anyway.
Facets need every matching document, so with facets the count is always exact.

Searches past `query_timeout` stop and answer 200 with what they found, flagged `timed_out: true` (as
Elasticsearch does): hits ranked among the matches seen so far, `total` a lower bound (`gte`) unless it was
counted before time ran out. The clock is read every docsets.DEADLINE_EVERY matches collected or postings read for the
count, so a search overshoots its timeout by about one such step, plus any single step inside Whoosh (building
the matcher of a date range of thousands of days, skipping through a block of postings); a cheap search reads it
rarely or never. (Whoosh's TimeLimitCollector needs SIGALRM, which only works in a main thread, and ignores
`filter=`; filters here are part of the query, so one clock covers both.)

Ranking is BM25 (k1 1.5, b 0.75) with Lucene's IDF, over the combined title-and-body field (schema.py), and
long natural-language queries get pseudo-relevance feedback: the best FEEDBACK_TERMS terms of the first
FEEDBACK_DOCS hits, weighted by RM3's relevance model over each hit's first FEEDBACK_CHARS characters, are
OR-ed to the query, holding FEEDBACK_WEIGHT of its total weight, and the query runs again. Short keyword
queries get no feedback: they would drift from what was asked. k1/b and the feedback settings were chosen by
leaving one of five test collections out (`python -m eval.levers`; the README's ranking section has the
tables); Lucene's IDF replaced Whoosh's log(N/(n+1))+1, under which a word found in every document still weighs
at least 1. RM3 over the lead replaced Bo1 over 5,000 characters, which let one long news article choose the
terms: time 0.646 -> 0.689 nDCG@10, and no collection lost more than 0.01.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import heapq
import itertools
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from whoosh import classify, scoring
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.collectors import Collector
from whoosh.columns import NumericColumn
from whoosh.index import FileIndex
from whoosh.matching import ListMatcher, NullMatcher
from whoosh.searching import Searcher

from searchsvc.config import Settings
from searchsvc.errors import IndexUnavailableError, ParameterError
from searchsvc.extract.types import ENTITY_TYPES
from searchsvc.index import postings
from searchsvc.index.schema import COMBINED_FIELD, combined_text, record_from_stored, summary_from_stored
from searchsvc.index.store import IndexStatus, IndexStore, IndexStoreError, Marker, read_toc
from searchsvc.search import docsets, kernel, spelling
from searchsvc.search.aliases import canonical_terms, completions
from searchsvc.search.archive_names import archive_names, merged_top
from searchsvc.search.cursors import MAX_STATS_TERMS, Cursor, Stats, decode, fingerprint
from searchsvc.search.expansion import (
    Expanded,
    Expander,
    ExpansionTimedOut,
    expanding_queries,
    expansions,
)
from searchsvc.search.facets import FacetColumn, docnums, segment_parts
from searchsvc.search.field_parts import FieldPart
from searchsvc.search.highlight import (
    MAX_SCAN_CHARS,
    highlight_body,
    highlight_title,
    marks_from_query,
    normalise,
    stem,
)
from searchsvc.search.query import STOPWORDS, BuiltQuery, QueryBuilder
from searchsvc.search.requests import SearchRequest

log = logging.getLogger("searchsvc")

# Facet name -> the column it is counted from.
_FACET_COLUMNS = {
    "person": "person",
    "org": "org",
    "place": "place",
    "published": "published",
    "mentioned": "mentioned_month",
}
# Similar documents: their terms are chosen from the first SIMILAR_CHARS characters of the document (the lead of a
# long one, as feedback reads a lead), SIMILAR_TERMS of them.
SIMILAR_CHARS = 20_000
SIMILAR_TERMS = 12
SUGGEST_BELOW = 5  # offer a did-you-mean when fewer hits than this were found
SUGGEST_UNCHECKED = 2  # words looked up before did-you-mean reads the clock (then before each word)
HIGHLIGHT_CHARS_PER_CLOCK_CHECK = 20_000
# Pseudo-relevance feedback for long natural-language queries (see the module docstring).
FEEDBACK_DOCS = 10
FEEDBACK_TERMS = 20
FEEDBACK_WEIGHT = 0.3  # share of the expanded query's weight held by the feedback terms
# Of each feedback document, the first FEEDBACK_CHARS characters are read for its terms: an abstract whole, a
# long article's lead (see the README's ranking section).
FEEDBACK_CHARS = 1_500
FEEDBACK_MODEL = "rm3"  # how feedback terms are weighted: "rm3" (_relevance_model) or "bo1" (Whoosh's Expander)


class BM25(scoring.BM25F):
    """Whoosh's BM25F scorer with Lucene's IDF, log(1 + (N - n + 0.5) / (n + 0.5)): near 0 for a word in most
    documents, where Whoosh's log(N / (n + 1)) + 1 never falls below 1."""

    def idf(self, searcher: Searcher, fieldname: str, text: Any) -> float:
        parent = searcher.get_parent()
        n = parent.doc_frequency(fieldname, text)
        total = parent.doc_count_all()
        return math.log(1 + (total - n + 0.5) / (n + 0.5))

    def blended(self, searcher: Searcher, q: Expanded) -> scoring.WeightingModel:
        """The weighting of the terms of expansion `q` (Expanded.matcher): each with its blended frequency."""
        parent = searcher.get_parent()
        return _FrozenBM25(Stats(parent.doc_count_all()), q.blended_frequency(parent.doc_frequency))


WEIGHTING = BM25(K1=1.5, B=0.75)
# Scores are rounded to this many decimals before they are compared: a cursor's page must order exactly as the
# page before it did, and the last bits of a float sum can differ between two runs of one query.
SCORE_DIGITS = 6
UNDATED = "~"  # the date key of an undated document: after every ISO date, in either direction


def _below(score: float) -> float:
    """A minimum score for Whoosh's block skipping that cannot drop a document rounding to `score`."""
    return score - 10.0**-SCORE_DIGITS


class _FrozenScorer(scoring.BM25FScorer):
    def __init__(
        self, searcher: Searcher, fieldname: str, text: Any, B: float, K1: float, qf: float, idf: float, avgfl: float
    ) -> None:  # noqa: E501
        self.idf = idf
        self.avgfl = avgfl
        self.B = B
        self.K1 = K1
        self.qf = qf
        self.setup(searcher, fieldname, text)


class _FrozenBM25(BM25):
    """BM25 with the collection statistics a cursor's first page scored with (cursors.Stats); terms it does
    not know (only documents written since can hold them) are read live. With `frequency`, every term scores
    with that document frequency (an expansion's, `blended`)."""

    def __init__(self, stats: Stats, frequency: int | None = None) -> None:
        super().__init__(K1=WEIGHTING.K1, B=WEIGHTING.B)
        self.stats = stats
        self.frequency = frequency

    def blended(self, searcher: Searcher, q: Expanded) -> scoring.WeightingModel:
        """The weighting of the terms of expansion `q` (Expanded.matcher): its blended frequency, frozen."""
        n = self.stats.frequencies.get(q.stats_key)
        return _FrozenBM25(self.stats, q.blended_frequency(searcher.get_parent().doc_frequency) if n is None else n)

    def scorer(self, searcher, fieldname, text, qf=1):
        if not searcher.schema[fieldname].scorable:
            return scoring.WeightScorer.for_(searcher, fieldname, text)
        parent = searcher.get_parent()
        key = (fieldname, text.decode("utf-8") if isinstance(text, bytes) else text)
        n = self.frequency if self.frequency is not None else self.stats.frequencies.get(key)
        if n is None:
            n = parent.doc_frequency(fieldname, text)
        total = self.stats.documents
        idf = math.log(1 + (total - n + 0.5) / (n + 0.5))
        avgfl = self.stats.avg_lengths.get(fieldname) or parent.avg_field_length(fieldname) or 1
        return _FrozenScorer(searcher, fieldname, text, self.B, self.K1, qf, idf, avgfl)


def _collection_stats(searcher: Searcher, queries: list[wq.Query], found: kernel.Kernel | None = None) -> Stats:
    """The statistics BM25 reads for the terms of `queries`, as WEIGHTING reads them now; document frequencies
    from the kernel's arrays when there is one (the same counts, without Whoosh's term-table lookups)."""
    parent = searcher.get_parent()

    def frequency(fieldname: str, text: str | bytes) -> int:
        if found is None or fieldname not in postings.KERNEL_FIELDS:
            return int(parent.doc_frequency(fieldname, text))
        return found.doc_frequency(fieldname, text.encode("utf-8") if isinstance(text, str) else text)

    frequencies: dict[tuple[str, str], int] = {}
    lengths: dict[str, float] = {}
    for q in queries:  # expansions first: each is one frequency for many terms
        for pattern in expansions(q):
            if pattern.fieldname in searcher.schema and len(frequencies) < MAX_STATS_TERMS:
                frequencies[pattern.stats_key] = pattern.blended_frequency(frequency)
    for q in queries:
        for fieldname, text in q.iter_all_terms():
            if fieldname not in searcher.schema or not searcher.schema[fieldname].scorable:
                continue
            key = (fieldname, text.decode("utf-8") if isinstance(text, bytes) else text)
            if key not in frequencies and len(frequencies) < MAX_STATS_TERMS:
                frequencies[key] = frequency(fieldname, text)
            if fieldname not in lengths:
                lengths[fieldname] = parent.avg_field_length(fieldname) or 1
    return Stats(parent.doc_count_all(), lengths, frequencies)


# STOPWORDS as the text analyzer indexes them: feedback never adds them.
_STOPWORD_STEMS = frozenset(stem(normalise(w)) for w in STOPWORDS)


V = TypeVar("V")


@dataclass(frozen=True)
class Similar:
    """Documents like one: at most `limit` hits (id, score, title, published, url, source), best first;
    `timed_out`: `query_timeout` passed, the hits are the best of the documents ranked by then."""

    hits: list[dict[str, Any]]
    timed_out: bool


class SearchRecorder(Protocol):
    """Told how long each phase of a search took and whether the result cache answered (the metrics; the
    service does not know what records them)."""

    def phase(self, name: str, seconds: float) -> None: ...

    def cache(self, hit: bool) -> None: ...


PHASES = ("parse", "feedback", "count", "rank", "facets", "highlight", "suggest")


# -- requests and results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    id: str
    score: float | None
    title: str
    published: str | None
    url: str | None
    source: str | None
    highlights: dict[str, list[str]]
    entities: dict[str, list[str]]
    dates: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "title": self.title,
            "published": self.published,
            "url": self.url,
            "source": self.source,
            "highlights": self.highlights,
            "entities": self.entities,
            "dates": self.dates,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    total: int
    total_relation: str  # "eq" or "gte"
    took_ms: float
    limit: int
    offset: int
    hits: list[Hit]
    facets: dict[str, list[dict[str, Any]]]
    suggestion: str | None
    timed_out: bool = False
    next: str | None = None  # a cursor to the following page; None when this page is the last

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "total": self.total,
            "total_relation": self.total_relation,
            "took_ms": self.took_ms,
            "limit": self.limit,
            "offset": self.offset,
            "timed_out": self.timed_out,
            "hits": [h.to_json() for h in self.hits],
            "facets": self.facets,
            "suggestion": self.suggestion,
            "next": self.next,
        }


@dataclass(frozen=True)
class _DateOrder:
    """Every docnum of a view in one date order (`docs`), and each docnum's place in it (`places`)."""

    docs: list[int]
    places: np.ndarray

    @classmethod
    def of(cls, docs: list[int]) -> _DateOrder:
        places = np.empty(len(docs), dtype=np.int64)
        places[docs] = np.arange(len(docs))
        return cls(docs, places)


@dataclass(frozen=True)
class _Matches:
    ranked: list[tuple[float | None, int]]  # (score, or None when sorted by date; docnum), best first
    total: int
    exact: bool
    ids: Collection[int] | np.ndarray  # every matching docnum when facets need them
    timed_out: bool = False


# -- collecting ----------------------------------------------------------------------------------------------
class _BoundedCollector(Collector):
    """Top-N by score with an exact count up to `count_bound` and a clock check every few matches.

    Whoosh's TopCollector raises its minimum score as soon as its heap is full, which lets matchers skip
    blocks and drop sub-queries; then the count is no longer exact. Here the minimum score is only raised
    (and skipping allowed) once `count_bound` matches were counted, and never when every id is kept (facets).
    With `count_bound=0` (the count comes from docsets.py) it skips as early as Whoosh's own collector.
    """

    def __init__(
        self,
        limit: int,
        count_bound: int,
        deadline: float,
        keep_ids: bool,
        ranks: Any = None,
        after: tuple[float, int] | None = None,
    ) -> None:
        """`count_bound` 0: the count is not needed (it was computed elsewhere), skip as soon as possible.
        `ranks[docnum]`: the document's place in id order, the tiebreak of equal (rounded) scores; `after`:
        (rounded score, id rank) of a cursor, only documents after which are kept (all are counted)."""
        super().__init__()
        self.ranks = ranks
        self.after = after
        self.limit = limit
        self.count_bound = count_bound
        self.deadline = deadline
        self.keep_ids = keep_ids
        self.total = 0
        self.ids: list[int] = []
        self.timed_out = False
        self.skipping = False
        self.replace = 10

    def prepare(self, top_searcher, q, context):
        super().prepare(top_searcher, q, context)
        self.items: list[tuple[float, int, int]] = []
        self.minscore = 0.0
        # Whoosh wraps a boosted query's matcher in one that multiplies its scores but not its quality bounds,
        # so skipping by quality drops documents that score above the minimum ("report harbour" in auto mode,
        # whose all-words clause is boosted: its best hits were skipped). Only unboosted queries skip.
        self.can_skip = _unboosted(q)

    def _use_block_quality(self) -> bool:
        return self.skipping and self.can_skip and self.matcher.supports_block_quality()

    def sort_key(self, sub_docnum):
        return 0 - self.matcher.score()

    def collect(self, sub_docnum: int) -> None:
        docnum = self.offset + sub_docnum
        score = round(self.matcher.score(), SCORE_DIGITS)
        self.total += 1
        if self.keep_ids:
            self.ids.append(docnum)
        rank = self.ranks[docnum] if self.ranks is not None else docnum
        if self.after is not None and (score > self.after[0] or (score == self.after[0] and rank < self.after[1])):
            return  # at or before the cursor: on an earlier page
        items = self.items
        item = (score, -rank, docnum)
        if len(items) < self.limit:
            heapq.heappush(items, item)
        elif item > items[0]:
            heapq.heapreplace(items, item)
            if self.skipping and self.can_skip:
                self.minscore = _below(items[0][0])
        if not self.skipping and not self.keep_ids and self.total >= self.count_bound and len(items) >= self.limit:
            self.skipping = True
            if self.can_skip:
                self.minscore = _below(items[0][0])

    def matches(self) -> Iterator[int]:
        # ScoredCollector.matches without its class: replace the matcher with a cheaper one now and then, and
        # skip low-quality blocks once allowed.
        matcher: Any = self.matcher  # type: ignore[has-type]  # set by Whoosh's untyped Collector.prepare
        replace_counter = 0
        minscore = self.minscore
        check_quality = True
        while matcher.is_active():
            if replace_counter == 0 or self.minscore != minscore:
                self.matcher = matcher = matcher.replace(self.minscore or 0)
                if not matcher.is_active():
                    break
                replace_counter = self.replace
                if self.minscore != minscore:
                    check_quality = True
                    minscore = self.minscore
            replace_counter -= 1
            if check_quality and self._use_block_quality():
                matcher.skip_to_quality(minscore)
                if not matcher.is_active():
                    break
            yield matcher.id()
            check_quality = matcher.next()

    def collect_matches(self) -> None:
        if self.timed_out:
            return
        # Whoosh finds a phrase's next match by checking the positions of every candidate before it, milliseconds
        # each: DEADLINE_EVERY of them ran 1.3 s past a bound of 1 s. The clock is read after every one of those.
        every = 1 if _positional(self.q) else docsets.DEADLINE_EVERY
        n = 0
        for sub_docnum in self.matches():
            self.collect(sub_docnum)
            n += 1
            if n % every == 0 and time.monotonic() > self.deadline:
                self.timed_out = True
                return

    def results(self):
        raise NotImplementedError("read .items, .total and .ids")

    def ranked(self) -> list[tuple[float | None, int]]:
        """(rounded score, docnum), best first; equal scores in id order."""
        return [(score, docnum) for score, _, docnum in sorted(self.items, reverse=True)]


def _unboosted(q: wq.Query) -> bool:
    return getattr(q, "boost", 1.0) == 1.0 and all(_unboosted(child) for child in q.children())


def _all_ids(searcher: Searcher, q: wq.Query, deadline: float) -> tuple[list[int], bool]:
    """Every matching docnum, unscored (the fast path of Whoosh matchers), and whether time ran out."""
    ids: list[int] = []
    context = searcher.boolean_context()
    for sub, offset in searcher.leaf_searchers():
        matcher = q.matcher(sub, context)
        for n, docnum in enumerate(matcher.all_ids(), 1):
            ids.append(docnum + offset)
            if n % docsets.DEADLINE_EVERY == 0 and time.monotonic() > deadline:
                return ids, True
    return ids, False


def _positional(q: wq.Query) -> bool:
    """Whether `q` holds a phrase or a `title:`/`body:` part (matched by positions)."""
    return isinstance(q, (wq.Phrase, FieldPart)) or any(_positional(child) for child in q.children())


def _verifier(searcher: Searcher) -> kernel.Verifier:
    """Positions checked by Whoosh for the kernel, where its arrays lack them (a field whose format they do not
    read): which candidates (ascending docnums of one segment) the matcher of `q` on that segment matches,
    skipping to each."""
    leaves = [leaf for leaf, _ in searcher.leaf_searchers()]

    def verify(q: wq.Query, segment: int, candidates: np.ndarray) -> np.ndarray:
        leaf = leaves[segment]
        return _skipped_to(q.matcher(leaf, leaf.boolean_context()), candidates)

    return verify


def _skipped_to(cursor: Any, candidates: np.ndarray) -> np.ndarray:
    """The candidates (ascending docnums) that `cursor`, a Whoosh matcher skipped to each in turn, stands on."""
    kept = []
    for d in candidates.tolist():
        if not cursor.is_active():
            break
        if cursor.id() < d:
            cursor.skip_to(d)
            if not cursor.is_active():
                break
        if cursor.id() == d:
            kept.append(d)
    return np.array(kept, dtype=np.int64)


def _and_all(qs: list[wq.Query]) -> wq.Query:
    return qs[0] if len(qs) == 1 else wq.And(qs)


class _KnownDocs(wq.Query):
    """Matches the given global docnums (already computed), with score 0: a filter not matched twice."""

    def __init__(self, docs: set[int], searcher: Searcher) -> None:
        self.docs = sorted(docs)
        self.offsets = {id(sub): offset for sub, offset in searcher.leaf_searchers()}

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)

    def estimate_size(self, ixreader: Any) -> int:
        return len(self.docs)

    def estimate_min_size(self, ixreader: Any) -> int:
        return len(self.docs)

    def matcher(self, searcher, context=None):
        offset = self.offsets.get(id(searcher), 0)
        lo = bisect.bisect_left(self.docs, offset)
        hi = bisect.bisect_left(self.docs, offset + searcher.doc_count_all())
        if lo == hi:
            return NullMatcher()
        return ListMatcher([d - offset for d in self.docs[lo:hi]], all_weights=0.0)


# -- the open index ------------------------------------------------------------------------------------------
def _read_toc(ix: Any) -> Any:
    """The index's latest commit (store.read_toc: retried when a racing commit removes the file it listed)."""
    try:
        return read_toc(ix)
    except OSError as exc:
        raise IndexStoreError(f"cannot read the index's table of contents: {exc}") from None


def _load_lengths(searcher: Searcher) -> None:
    """Read each scored field's length column into memory (one byte a document). BM25 reads a length for
    every document it scores; with the index files read as files, not copied into memory (store.open_whoosh),
    each of those was a seek and a read. Reaches into Whoosh-Reloaded's W3 reader (pinned)."""
    scored = [name for name, field_type in searcher.schema.items() if field_type.scorable]
    for leaf, _ in searcher.leaf_searchers():
        perdoc = getattr(leaf.reader(), "_perdoc", None)
        if perdoc is None or not hasattr(perdoc, "_cached_reader"):
            continue
        for name in scored:
            column = perdoc._cached_reader(_lenfield(name), LENGTHS_COLUMN)
            if isinstance(column, NumericColumn.Reader) and column._fixedlen == 1:
                raw = column._dbfile.get(column._basepos, column._count)
                perdoc._readers[_lenfield(name)] = bytes(raw) + bytes(column._doccount - column._count)


def _close_searchers(searchers: list[Searcher]) -> None:
    while searchers:
        try:
            searchers.pop().close()
        except IndexError:  # another thread emptied it
            return
        except Exception:  # closing a half-deleted generation must not fail a request
            log.debug("closing a searcher failed", exc_info=True)


class _View:
    """One opened generation of the index: its searchers (one per thread) and caches valid while it lives."""

    def __init__(self, store: IndexStore) -> None:
        try:
            self.ix, self.marker = store.open()
            # Pinned: every thread's searcher on this view reads this one commit (see `searcher`), and the schema
            # is this commit's, never `ix.schema`: that reads the latest TOC file again, which a concurrent commit
            # may have deleted between Whoosh listing it and opening it (a 500).
            self._toc = _read_toc(self.ix)
            self.toc_generation = self._toc.generation
        except IndexStoreError as exc:
            log.warning("index unavailable: %s", exc)
            raise IndexUnavailableError("the index is not available: it has not been built or cannot be read") from None
        self.key = (self.marker.generation, self.marker.built_at, self.toc_generation)
        self.schema = self._toc.schema
        self.builder = QueryBuilder(self.schema)
        self.refs = 0
        self.retired = False
        self._local = threading.local()
        self._searchers: list[Searcher] = []
        # The index files are plain open files (store.open_whoosh): close them even if nobody calls close().
        weakref.finalize(self, _close_searchers, self._searchers)
        self._lock = threading.Lock()
        self._kernel_lock = threading.Lock()
        self._kernel_building = False  # a background thread builds the missing derived postings, once per view
        self.kernel_settled = threading.Event()  # set once the kernel is ready or known to be unavailable
        self._facet_columns: dict[str, FacetColumn] = {}
        self._published: tuple[list[str], _DateOrder, _DateOrder] | None = None  # dates; newest, oldest first
        self._ids: tuple[list[str], list[int]] | None = None
        self._stats: dict[str, Any] | None = None
        self._kernel: kernel.Kernel | None = None
        self._rank_array: np.ndarray | None = None
        try:
            self.searcher()  # fail now, in the thread that opened the view, if the files are unreadable
        except Exception as exc:  # Whoosh raises many kinds on damaged segment files
            log.warning("index unavailable: cannot read %s: %s: %s", self.marker.generation, type(exc).__name__, exc)
            self.close()
            raise IndexUnavailableError("the index is not available: it has not been built or cannot be read") from None

    def searcher(self) -> Searcher:
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self.open_searcher()
            self._local.searcher = searcher
            with self._lock:
                self._searchers.append(searcher)
        return searcher

    def open_searcher(self) -> Searcher:
        """A searcher of the view's commit. Not ix.searcher(), which opens the latest commit: the view's caches
        (facet columns, date order) are by document number, so no thread may search a newer commit."""
        toc = self._toc
        reader = FileIndex._reader(self.ix.storage, toc.schema, list(toc.segments), toc.generation)
        searcher = Searcher(reader, weighting=WEIGHTING, fromindex=self.ix)
        _load_lengths(searcher)
        return searcher

    def is_current(self, marker: Marker | None) -> bool:
        if marker is None or (marker.generation, marker.built_at) != self.key[:2]:
            return False
        return self.ix.latest_generation() == self.toc_generation

    def superseded(self) -> bool:
        """Whether a newer commit (or rebuild) replaced this view's, whose files it may then have removed."""
        try:
            return self.ix.latest_generation() != self.toc_generation
        except Exception:  # the generation's folder itself was removed by a rebuild
            return True

    def close(self) -> None:
        _close_searchers(self._searchers)

    def id_order(self) -> tuple[list[str], list[int]]:
        """(every id in sorted order, each docnum's place in it): ties are broken by id, which, unlike a
        document number, survives merges and rebuilds. Read once per view from the id column."""
        with self._lock:
            if self._ids is not None:
                return self._ids
        ids = [
            v.decode("utf-8") if isinstance(v, bytes) else (v or "")
            for v in self.searcher().reader().column_reader("id")
        ]
        order = sorted(range(len(ids)), key=ids.__getitem__)
        ranks = [0] * len(ids)
        for place, d in enumerate(order):
            ranks[d] = place
        with self._lock:
            self._ids = ([ids[d] for d in order], ranks)
        return self._ids

    def rank_array(self) -> np.ndarray:
        """id_order()'s ranks as an array (the kernel's tiebreak)."""
        if self._rank_array is None:
            self._rank_array = np.array(self.id_order()[1], dtype=np.int64)
        return self._rank_array

    def _kernel_from(self, searcher: Searcher, build_missing: bool) -> kernel.Kernel | None:
        segments = []
        for leaf, offset in searcher.leaf_searchers():
            reader = leaf.reader()
            derived = postings.load(self.ix.storage.folder, reader.segment(), reader, build_missing)
            if derived is None:
                return None
            live = np.ones(derived.documents, dtype=bool)
            if reader.has_deletions():
                live[np.fromiter(reader.deleted_docs_set, dtype=np.int64)] = False
            segments.append(kernel.Segment(derived, offset, live))
        return kernel.Kernel(segments, self.schema, WEIGHTING.K1, WEIGHTING.B)

    def kernel(self, searcher: Searcher) -> kernel.Kernel | None:
        """The search kernel over this view's segments, their derived postings memory-mapped. None while they
        are being built and when they cannot be: the Whoosh path answers. Files missing or stale (an index built
        by older code, a commit whose write failed) are built by a background thread (postings.load reads every
        posting list), never inside a request, which would overrun its `query_timeout`."""
        if self._kernel is not None or self.kernel_settled.is_set():
            return self._kernel
        with self._kernel_lock:
            if self._kernel is not None or self.kernel_settled.is_set() or self._kernel_building:
                return self._kernel
            try:
                found = self._kernel_from(searcher, build_missing=False)
            except Exception as exc:  # the Whoosh path still answers everything
                self._no_kernel(exc)
                self.kernel_settled.set()
                return None
            if found is not None:
                self._kernel = found
                self.kernel_settled.set()
                return found
            self._kernel_building = True
        name = f"searchsvc-kernel-{self.marker.generation}"
        threading.Thread(target=self._build_kernel, name=name, daemon=True).start()
        return None

    def _build_kernel(self) -> None:
        """The background thread's work: build (and write) the missing derived postings, with a searcher of its
        own (a searcher serves one thread)."""
        started = time.monotonic()
        try:
            searcher = self.open_searcher()
            try:
                self._kernel = self._kernel_from(searcher, build_missing=True)
            finally:
                searcher.close()
            log.info("built the kernel's postings of %s in %.1f s", self.marker.generation, time.monotonic() - started)
        except Exception as exc:  # the Whoosh path answers the view's requests
            self._no_kernel(exc)
        finally:
            self.kernel_settled.set()

    def _no_kernel(self, exc: Exception) -> None:
        """Log why the view has no kernel: a traceback only when it is a fault, not a commit moving on."""
        if self.superseded():  # a newer commit merged the view's segments away, their files with them
            generation, commit = self.marker.generation, self.toc_generation
            log.info("no kernel for %s commit %d: a newer commit replaced it (%s)", generation, commit, exc)
        else:  # a damaged segment, a failed write
            log.warning("the search kernel is unavailable for %s", self.marker.generation, exc_info=True)

    def after_rank(self, doc_id: str) -> int:
        """The id rank from which documents come after `doc_id` in id order."""
        return bisect.bisect_right(self.id_order()[0], doc_id)

    def date_key(self, docnum: int, newest_first: bool) -> str:
        """The document's sort value by date: its date (or digit-wise complement), UNDATED when it has none."""
        value = self._dates()[0][docnum]
        if not value:
            return UNDATED
        return _inverted(value) if newest_first else value

    def by_published(
        self, docs: Collection[int] | np.ndarray, wanted: int, newest_first: bool, after: tuple[str, int] | None = None
    ) -> list[int]:
        """The first `wanted` of `docs` (distinct docnums) by publication date (newest or oldest first), undated
        ones last, ties by id; with `after` (date key, id rank), only those after it. Uses the index's date order,
        sorted once per view."""
        _, newest, oldest = self._dates()
        order = newest if newest_first else oldest
        if wanted <= 0 or not len(docs):
            return []
        ranks = self.id_order()[1]

        def key(d: int) -> tuple[str, int]:
            return (self.date_key(d, newest_first), ranks[d])

        start = 0 if after is None else bisect.bisect_left(order.docs, after, key=key)
        found = docnums(docs)
        if len(found) * 8 < len(order.docs):  # few matches: the first of their places in the order
            places = order.places[found]
            if start:
                places = places[places >= start]
            if len(places) > wanted:
                places = np.partition(places, wanted - 1)[:wanted]
            return [order.docs[p] for p in np.sort(places).tolist()]
        held = np.zeros(len(order.docs), dtype=bool)  # many: walk the order until enough of them came
        held[found] = True
        out = []
        for d in itertools.islice(order.docs, start, None):
            if held[d]:
                out.append(d)
                if len(out) == wanted:
                    break
        return out

    def _dates(self) -> tuple[list[str], _DateOrder, _DateOrder]:
        """Each docnum's date ("" for none), and every docnum newest first and oldest first: once per view."""
        with self._lock:
            if self._published is not None:
                return self._published
        values = [v or "" for v in self.searcher().reader().column_reader("published")]
        ranks = self.id_order()[1]
        dated = [d for d, v in enumerate(values) if v]
        undated = sorted((d for d, v in enumerate(values) if not v), key=ranks.__getitem__)
        newest = sorted(dated, key=lambda d: (_inverted(values[d]), ranks[d])) + undated
        oldest = sorted(dated, key=lambda d: (values[d], ranks[d])) + undated
        with self._lock:
            self._published = (values, _DateOrder.of(newest), _DateOrder.of(oldest))
            return self._published

    def facet_column(self, facet: str) -> FacetColumn:
        """The facet's values for every document, read once from its column for the view's lifetime."""
        with self._lock:
            if facet in self._facet_columns:
                return self._facet_columns[facet]
        searcher = self.searcher()
        merge = archive_names(searcher.reader(), facet).of if facet in ENTITY_TYPES else None  # one name per entity
        name = _FACET_COLUMNS[facet]
        segments = [
            (leaf.reader().segment().segment_id(), functools.partial(leaf.reader().column_reader, name))
            for leaf, _ in searcher.leaf_searchers()
        ]
        column = FacetColumn.of_parts(segment_parts(segments, name, months=facet == "published"), merge)
        with self._lock:
            return self._facet_columns.setdefault(facet, column)


class _ResultCache(Generic[V]):
    """A small thread-safe LRU of results keyed by (view key, request)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> V | None:
        if self.size <= 0:
            return None
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: V) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


NEVER = float("-inf")  # a monotonic time older than any: `now - NEVER` exceeds every interval


# -- the service ---------------------------------------------------------------------------------------------
class SearchService:
    """Searches, documents, similar documents, entity names and statistics over one index directory."""

    def __init__(
        self, settings: Settings, store: IndexStore | None = None, recorder: SearchRecorder | None = None
    ) -> None:
        self.settings = settings
        self.recorder = recorder
        self.store = store or IndexStore(settings.index_path)
        self._view: _View | None = None
        # When the marker was last read; -inf means "check at the next request". Not 0.0: the monotonic clock
        # starts near 0 at boot, so 0.0 looks recent for the first refresh_interval seconds of a host's uptime.
        self._checked = NEVER
        self._lock = threading.Lock()
        self._cache: _ResultCache[SearchResult] = _ResultCache(settings.cache_size)
        self._similar_cache: _ResultCache[Similar] = _ResultCache(settings.cache_size)
        # Entity lists (autocomplete): an empty prefix reads every name of the type, ~0.2 s at 104k articles.
        self._entities_cache: _ResultCache[list[dict[str, Any]]] = _ResultCache(settings.cache_size)

    # -- views -----------------------------------------------------------------------------------------------
    def _current(self) -> _View:
        view = self._view
        now = time.monotonic()
        if view is not None and now - self._checked < self.settings.refresh_interval:
            return view
        with self._lock:
            view = self._view
            checked = time.monotonic()
            if view is not None and checked - self._checked < self.settings.refresh_interval:
                return view
            # `checked` is the time before the look, not after: opening a view can take a while, and a commit
            # landing meanwhile must still be seen refresh_interval after it, not that plus the opening.
            try:
                marker = self.store.read_marker()
            except IndexStoreError as exc:
                log.warning("index unavailable: %s", exc)
                marker = None
            if view is not None and view.is_current(marker):
                self._checked = checked
                return view
            fresh = _View(self.store)  # raises IndexUnavailableError; the old view (if any) stays in place
            self._view = fresh
            self._checked = checked
            self._cache.clear()
            self._similar_cache.clear()
            self._entities_cache.clear()
            if view is not None:
                self._retire(view)
            return fresh

    def _retire(self, view: _View) -> None:
        view.retired = True
        if view.refs == 0:
            view.close()

    @contextmanager
    def _use(self) -> Iterator[tuple[_View, Searcher]]:
        """The current view, pinned for the duration of one request, and this thread's searcher on it."""
        for attempt in range(2):
            view = self._current()
            with self._lock:
                view.refs += 1
            try:
                searcher = view.searcher()
                break
            except Exception as exc:
                # This thread's first searcher on a view whose files a newer rebuild already removed: look
                # for the newer generation now, once.
                self._release(view)
                # Handled (a newer commit is looked for below), so one line, not a traceback.
                log.warning("cannot open a searcher on generation %s: %s", view.marker.generation, exc)
                if attempt:
                    raise IndexUnavailableError("the index cannot be read; it may be being rebuilt") from None
                self._checked = NEVER
        try:
            yield view, searcher
        finally:
            self._release(view)

    def _release(self, view: _View) -> None:
        with self._lock:
            view.refs -= 1
            close = view.retired and view.refs == 0
        if close:
            view.close()

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Time one phase of a search for the recorder (PHASES)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.recorder is not None:
                self.recorder.phase(name, time.perf_counter() - started)

    def cache_size(self) -> int:
        """Search responses held by this process's result cache."""
        return len(self.cache_entries())

    def cache_entries(self) -> list[Any]:
        with self._cache._lock:
            return list(self._cache._data)

    def refresh(self) -> None:
        """Check for a new index now instead of at the next interval."""
        self._checked = NEVER
        self._current()

    def close(self) -> None:
        with self._lock:
            view, self._view = self._view, None
        if view is not None:
            self._retire(view)

    # -- searching -------------------------------------------------------------------------------------------
    def search(self, request: SearchRequest, use_cache: bool = True) -> SearchResult:
        """Run one search. Raises QueryError / ParameterError for bad input, IndexUnavailableError.

        One deadline (`query_timeout`) covers every phase: expanding patterns, feedback, counting, ranking,
        highlighting and did-you-mean. `use_cache` false: neither read nor fill the result cache (a stream of
        pages would only push out what others repeat)."""
        started = time.perf_counter()
        cursor = None
        if request.cursor is not None:
            if request.offset:
                raise ParameterError("offset cannot be combined with cursor: the cursor says where to go on", "offset")
            cursor = decode(request.cursor)
            if cursor.fingerprint != _fingerprint(request):
                raise ParameterError(
                    "cursor: it belongs to another search (q, match, filters and sort must stay the same)", "cursor"
                )
        with self._use() as (view, searcher):
            key = (view.key, request)
            cached = self._cache.get(key) if use_cache else None
            if self.recorder is not None and self._cache.size > 0 and use_cache:
                self.recorder.cache(cached is not None)
            if cached is not None:
                return dataclasses.replace(cached, took_ms=_ms(started))
            deadline = time.monotonic() + self.settings.query_timeout
            reader = searcher.reader()
            with self._phase("parse"):
                built = view.builder.build(
                    request.q,
                    match=request.match,
                    filters=request.filters,
                    resolve=lambda kind, name: canonical_terms(reader, kind, name),
                )
                try:
                    built = self._expanded(searcher, built, deadline)
                except ExpansionTimedOut:
                    return _timed_out(request, started)
            result = self._run(view, searcher, request, built, started, deadline, cursor)
        if not result.timed_out and use_cache:
            self._cache.put(key, result)
        return result

    def _expanded(self, searcher: Searcher, built: BuiltQuery, deadline: float) -> BuiltQuery:
        """`built` with its prefixes, wildcards and fuzzy terms expanded once, for every phase to reuse."""
        if built.text_query is None or not any(True for _ in expanding_queries(built.text_query)):
            return built
        expander = Expander(
            searcher.reader(),
            max_terms=self.settings.max_expansion,
            max_visits=self.settings.max_expansion_visits,
            deadline=deadline,
        )
        return dataclasses.replace(
            built,
            query=expander.expand(built.query),
            text_query=expander.expand(built.text_query),
            scoring=None if built.scoring is None else expander.expand(built.scoring),
        )

    def _run(
        self,
        view: _View,
        searcher: Searcher,
        request: SearchRequest,
        built: BuiltQuery,
        started: float,
        deadline: float,
        cursor: Cursor | None = None,
    ) -> SearchResult:
        stats: Stats | None = None
        feedback: tuple[tuple[str, float], ...] | None = None
        if request.effective_sort == "relevance":
            if cursor is not None and cursor.feedback is not None:
                feedback = cursor.feedback  # the first page's: the index it read them from has changed since
            elif built.feedback and cursor is None:
                with self._phase("feedback"):
                    feedback = _feedback_terms(searcher, built, deadline, self._kernel_of(view, searcher))
            if feedback:
                built = _with_terms(built, feedback)
            stats = cursor.stats if cursor is not None and cursor.stats is not None else None
            if stats is None:
                queries = [built.query, *([built.scoring] if built.scoring else [])]
                stats = _collection_stats(searcher, queries, self._kernel_of(view, searcher))
            matches = self._by_relevance(view, searcher, request, built, deadline, cursor, stats)
        else:
            matches = self._by_date(view, searcher, request, built.query, deadline, cursor)
        page = matches.ranked[request.offset :]
        with self._phase("highlight"):
            hits, hits_complete = self._hits(searcher, request, built, page, deadline)
        facets = {}
        if request.facets:
            with self._phase("facets"):
                ids = docnums(matches.ids)
                facets = {name: self._facet(view, name, ids, request.facet_size) for name in request.facets}
        suggestion = None
        suggested = True
        if matches.total < SUGGEST_BELOW and built.words and cursor is None:
            with self._phase("suggest"):
                suggestion, suggested = _suggest(
                    searcher, request.q.strip(), built.words, deadline, self._kernel_of(view, searcher)
                )
        next_cursor = None
        if hits and len(hits) == request.limit:
            score, docnum = page[-1]
            sort = request.effective_sort
            next_cursor = Cursor(
                fingerprint=_fingerprint(request),
                generation=view.marker.generation,
                key=score if sort == "relevance" and score is not None else view.date_key(docnum, sort == "-published"),
                id=hits[-1].id,
                stats=stats,
                feedback=feedback,
            ).encode()
        return SearchResult(
            query=request.q,
            total=matches.total,
            total_relation="eq" if matches.exact else "gte",
            took_ms=_ms(started),
            limit=request.limit,
            offset=request.offset,
            hits=hits,
            facets=facets,
            suggestion=suggestion,
            timed_out=matches.timed_out or not hits_complete or not suggested,
            next=next_cursor,
        )

    def _by_relevance(
        self,
        view: _View,
        searcher: Searcher,
        request: SearchRequest,
        built: BuiltQuery,
        deadline: float,
        cursor: Cursor | None,
        stats: Stats,
    ) -> _Matches:
        """The best offset+limit by score (after the cursor, if any), and the count (the module docstring says how
        it stays cheap). Scored with `stats`, the collection statistics of the walk's first page."""
        wanted = request.offset + request.limit
        bound = self.settings.count_bound
        q = built.query
        ranks = view.id_order()[1]
        after = None
        if cursor is not None:
            if isinstance(cursor.key, str):
                raise ParameterError("cursor: it belongs to another sort", "cursor")
            after = (cursor.key, view.after_rank(cursor.id))
        found_by_kernel = self._kernel_relevance(view, searcher, request, built, deadline, after, stats)
        if found_by_kernel is not None:
            return found_by_kernel
        context = searcher.context(weighting=_FrozenBM25(stats))

        def collector(count_bound: int, keep_ids: bool) -> _BoundedCollector:
            return _BoundedCollector(wanted, count_bound, deadline, keep_ids, ranks, after)

        def rank(count_bound: int, keep_ids: bool, query: wq.Query = q) -> _BoundedCollector:
            found = collector(count_bound, keep_ids)
            with self._phase("rank"):
                searcher.search_with_collector(query, found, context=context)
            return found

        if built.filters and built.scoring is not None:
            filtered = self._filtered(searcher, request, built, deadline, collector, context)
            if filtered is not None:
                return filtered
        with self._phase("count"):
            enough = not request.facets and docsets.lower_bound(searcher, q) >= bound
        if enough:
            found = rank(0, False)
            return _Matches(found.ranked(), bound, False, (), found.timed_out)
        # The ranking of an AND visits most of its matches anyway (few blocks can be skipped in an intersection),
        # so it counts them too (up to count_bound): cheaper than finding them first by set algebra.
        counted_by_ranking = not request.facets and isinstance(q, wq.And)
        try:
            with self._phase("count"):
                docs = None if counted_by_ranking else docsets.matching_docs(searcher, q, deadline)
        except docsets.TimedOut:  # counted by the collector below, which stops at its first clock check
            docs = None
        if docs is not None:
            if not docs:
                return _Matches([], 0, True, ())
            found = rank(0, False)
            return _Matches(found.ranked(), len(docs), True, docs, found.timed_out)
        found = rank(bound, bool(request.facets))
        exact = not found.skipping and not found.timed_out
        return _Matches(found.ranked(), found.total, exact, found.ids, found.timed_out)

    def _kernel_of(self, view: _View, searcher: Searcher) -> kernel.Kernel | None:
        return view.kernel(searcher) if self.settings.search_kernel else None

    def _kernel_relevance(
        self,
        view: _View,
        searcher: Searcher,
        request: SearchRequest,
        built: BuiltQuery,
        deadline: float,
        after: tuple[float, int] | None,
        stats: Stats,
    ) -> _Matches | None:
        """_by_relevance by the kernel: every match scored at once, the page picked by numpy, the count exact up to
        count_bound as the Whoosh path counts it. None when the kernel does not answer the query."""
        found = self._kernel_of(view, searcher)
        if found is None:
            return None
        verify = _verifier(searcher)
        q = built.query
        bound = self.settings.count_bound
        try:
            with self._phase("rank"):
                if built.filters and built.scoring is not None:
                    # As _filtered: the filters do not score; their documents take part in the And through
                    # _KnownDocs, whose ListMatcher scores 1.0 (all_weights=0.0 is falsy), so every score is +1.
                    allowed, _, filters_out = found.run(_and_all(built.filters), stats, verify, deadline, scored=False)
                    if not len(allowed):
                        return _Matches([], 0, not filters_out, (), filters_out)
                    docs, scores, text_out = found.run(built.scoring, stats, verify, deadline)
                    keep = np.isin(docs, allowed, assume_unique=True)
                    docs, scores = docs[keep], scores[keep] + 1.0
                    timed_out = filters_out or text_out
                    by_collector = True
                else:
                    docs, scores, timed_out = found.run(q, stats, verify, deadline)
                    by_collector = isinstance(q, wq.And) or _positional(q)
                ranked = kernel.top(
                    docs, scores, view.rank_array(), request.offset + request.limit, SCORE_DIGITS, after
                )
        except kernel.Unsupported as exc:
            log.debug("the kernel takes no %s: the Whoosh path answers", exc)
            return None
        total, exact = len(docs), not timed_out
        if exact and not request.facets:
            # The lower bound never exceeds the matches counted here, so it is only looked up when they reach it.
            if not by_collector and total >= bound and docsets.lower_bound(searcher, q) >= bound:
                total, exact = bound, False  # as the Whoosh path: document frequencies alone prove it
            elif by_collector and total >= bound:
                total, exact = bound, False  # the Whoosh path's collector counts up to the bound
        return _Matches([(score, int(d)) for score, d in ranked], total, exact, docs, timed_out)

    def _filtered(
        self,
        searcher: Searcher,
        request: SearchRequest,
        built: BuiltQuery,
        deadline: float,
        collector: Any,
        context: Any,
    ) -> _Matches | None:
        """Filters first: their documents by set algebra (a date range is a union of one posting list a day),
        then the text ranked and counted among them only, so a common word costs what the filters let through,
        not its whole posting list. Filters do not score, as in Elasticsearch. None: use the general path."""
        assert built.scoring is not None
        try:
            with self._phase("count"):
                allowed = docsets.matching_docs(searcher, _and_all(built.filters), deadline)
        except docsets.TimedOut:
            return None
        if allowed is None:
            return None
        if not allowed:
            return _Matches([], 0, True, ())
        found = collector(self.settings.count_bound, bool(request.facets))
        with self._phase("rank"):
            searcher.search_with_collector(
                wq.And([built.scoring, _KnownDocs(allowed, searcher)]), found, context=context
            )
        exact = not found.skipping and not found.timed_out
        return _Matches(found.ranked(), found.total, exact, found.ids, found.timed_out)

    def _by_date(
        self,
        view: _View,
        searcher: Searcher,
        request: SearchRequest,
        q: wq.Query,
        deadline: float,
        cursor: Cursor | None = None,
    ) -> _Matches:
        """Every match, then the first offset+limit by publication date (after the cursor, if any)."""
        with self._phase("count"):
            docs: Collection[int] | np.ndarray | None = None
            timed_out = False
            by_kernel = self._kernel_of(view, searcher)
            if by_kernel is not None:
                try:
                    live = by_kernel.live_statistics()
                    docs, _, timed_out = by_kernel.run(q, live, _verifier(searcher), deadline, False)
                except kernel.Unsupported:
                    pass
            if docs is None:
                try:
                    docs = docsets.matching_docs(searcher, q, deadline)
                except docsets.TimedOut:  # listed by _all_ids, which stops at its first clock check
                    docs = None
            if docs is None:
                found, timed_out = _all_ids(searcher, q, deadline)
                docs = set(found)
        wanted = request.offset + request.limit
        after = None
        if cursor is not None:
            if not isinstance(cursor.key, str):
                raise ParameterError("cursor: it belongs to another sort", "cursor")
            after = (cursor.key, view.after_rank(cursor.id))
        assert docs is not None
        with self._phase("rank"):
            top = view.by_published(docs, wanted, request.effective_sort == "-published", after)
        return _Matches([(None, d) for d in top], len(docs), not timed_out, docs, timed_out)

    def _hits(
        self,
        searcher: Searcher,
        request: SearchRequest,
        built: BuiltQuery,
        page: list[tuple[float | None, int]],
        deadline: float,
    ) -> tuple[list[Hit], bool]:
        """The page's hits, and whether all were highlighted: past the deadline the rest come without highlights
        (the clock is read every HIGHLIGHT_CHARS_PER_CLOCK_CHECK characters highlighted)."""
        marks = None
        if request.highlight and built.text_query is not None and page:
            marks = marks_from_query(built.text_query, searcher.reader(), self.settings.max_expansion)
        complete = True
        scanned = 0  # characters highlighted since the clock was last read
        hits = []
        for score, docnum in page:
            shown = summary_from_stored(searcher.stored_fields(docnum))
            title, body = shown["title"], shown["body"]
            highlights: dict[str, list[str]] = {"title": [], "body": []}
            if marks is not None and complete and scanned >= HIGHLIGHT_CHARS_PER_CLOCK_CHECK:
                scanned = 0
                complete = time.monotonic() <= deadline
            if marks is not None and complete:
                scanned += len(title) + min(len(body), MAX_SCAN_CHARS)
                highlights["title"] = highlight_title(title, marks["title"])
                highlights["body"] = highlight_body(body, marks["body"])
            hits.append(
                Hit(
                    id=shown["id"],
                    score=None if score is None else round(float(score), 4),
                    title=title,
                    published=shown["published"],
                    url=shown["url"],
                    source=shown["source"],
                    highlights=highlights,
                    entities=shown["entities"],
                    dates=shown["dates"],
                )
            )
        return hits, complete

    def _facet(self, view: _View, name: str, ids: Any, size: int) -> list[dict[str, Any]]:
        return [{"value": value, "count": count} for value, count in view.facet_column(name).top(ids, size)]

    # -- documents and entities ------------------------------------------------------------------------------
    def canonical_terms(self, kind: str, name: str) -> list[str]:
        """The keyword terms of the canonical names `name` may mean for `kind` (the index's alias table)."""
        with self._use() as (_, searcher):
            return canonical_terms(searcher.reader(), kind, name)

    def get_document(self, doc_id: str) -> dict[str, Any] | None:
        """The stored document as a plain record, or None."""
        with self._use() as (_, searcher):
            docnum = searcher.document_number(id=doc_id)
            if docnum is None:
                return None
            return record_from_stored(searcher.stored_fields(docnum))

    def from_files(self, doc_ids: Iterable[str]) -> set[str]:
        """Those of `doc_ids` indexed from a file (a stored path); none while there is no index yet."""
        try:
            with self._use() as (_, searcher):
                paths = searcher.reader().column_reader("path")
                found = set()
                for doc_id in doc_ids:
                    docnum = searcher.document_number(id=doc_id)
                    if docnum is not None and paths[docnum]:
                        found.add(doc_id)
                return found
        except IndexUnavailableError:
            return set()

    def similar(self, doc_id: str, limit: int = 10) -> Similar | None:
        """Documents sharing the most distinctive terms of the first SIMILAR_CHARS characters of `doc_id` (None
        if it does not exist). Bounded like a search: one `query_timeout` covers choosing the terms and ranking,
        past it the documents ranked so far are returned, flagged `timed_out`; answers are cached per view."""
        with self._use() as (view, searcher):
            key = (view.key, "similar", doc_id, limit)
            cached = self._similar_cache.get(key)
            if cached is not None:
                return cached
            deadline = time.monotonic() + self.settings.query_timeout
            docnum = searcher.document_number(id=doc_id)
            if docnum is None:
                return None
            stored = searcher.stored_fields(docnum)
            if not (stored.get("body") or "").strip():
                return Similar([], False)
            text = combined_text(stored.get("title") or "", stored["body"])[:SIMILAR_CHARS]
            terms = searcher.key_terms_from_text(COMBINED_FIELD, text, numterms=SIMILAR_TERMS, normalize=False)
            if time.monotonic() > deadline:
                return Similar([], True)
            q = wq.Or([wq.Term(COMBINED_FIELD, word, boost=weight) for word, weight in terms])
            ranked, timed_out = self._similar_ranked(view, searcher, q, limit + 1, deadline)
            out: list[dict[str, Any]] = []
            for score, d in ranked:
                if d == docnum or len(out) == limit:
                    continue
                record = summary_from_stored(searcher.stored_fields(d))
                out.append(
                    {
                        "id": record["id"],
                        "score": round(float(score or 0.0), 4),
                        "title": record["title"],
                        "published": record["published"],
                        "url": record["url"],
                        "source": record["source"],
                    }
                )
        found = Similar(out, timed_out)
        if not timed_out:
            self._similar_cache.put(key, found)
        return found

    def _similar_ranked(
        self, view: _View, searcher: Searcher, q: wq.Query, wanted: int, deadline: float
    ) -> tuple[list[tuple[float | None, int]], bool]:
        """The best `wanted` (rounded score, docnum) of `q` by BM25, and whether time ran out: by the kernel
        when it answers, else by Whoosh's matchers with the search's collector (which reads the clock)."""
        found = self._kernel_of(view, searcher)
        if found is not None:
            try:
                docs, scores, timed_out = found.run(q, found.live_statistics(), _verifier(searcher), deadline)
                ranked = kernel.top(docs, scores, view.rank_array(), wanted, SCORE_DIGITS)
                return [(score, int(d)) for score, d in ranked], timed_out
            except kernel.Unsupported as exc:
                log.debug("the kernel takes no %s: the Whoosh path answers", exc)
        collector = _BoundedCollector(wanted, 0, deadline, False, view.id_order()[1])
        searcher.search_with_collector(q, collector)
        return collector.ranked(), collector.timed_out

    def entities(self, kind: str, prefix: str = "", limit: int = 10) -> list[dict[str, Any]]:
        """Entity names of one type starting with `prefix` (case-insensitive), or known by a name that does
        (the alias table: "u.s" offers United States), most documents first."""
        written = prefix.strip()
        prefix = written.lower()
        with self._use() as (view, searcher):
            reader = searcher.reader()
            if kind not in reader.schema:
                return []
            key = (view.key, kind, written, limit)
            cached = self._entities_cache.get(key)
            if cached is not None:
                return [dict(entry) for entry in cached]
            scan: Iterator[tuple[int, Any]] = (
                (info.doc_frequency(), text) for text, info in reader.iter_prefix(kind, prefix)
            )
            # Names some surface form of which starts so ("u.s" -> United States, "nicolas" -> Nicolás Maduro).
            by_alias = completions(reader, kind, written) if written else set()
            if by_alias:
                direct = list(scan)
                known = {t.decode("utf-8") if isinstance(t, bytes) else t for _, t in direct}
                extra = [(reader.doc_frequency(kind, t), t) for t in sorted(by_alias - known)]
                scan = iter(direct + [ft for ft in extra if ft[0]])
            if reader.has_deletions():  # term statistics still count replaced and deleted documents
                scan = ((_live_count(reader, kind, text), text) for _, text in scan)
                scan = (ft for ft in scan if ft[0])
            top = merged_top(reader, kind, scan, limit)  # one entry per entity across the archive
            creader = reader.column_reader(kind)
            out = []
            for count, term in top:
                name = term.decode("utf-8") if isinstance(term, bytes) else term
                out.append({"name": _display_name(reader, creader, kind, name), "count": count})
            self._entities_cache.put(key, [dict(entry) for entry in out])
            return out

    def stats(self) -> dict[str, Any]:
        """Document count, the live generation, when it was built and last committed to, its segments and size on
        disk, distinct entity names by type, and this process's result cache."""
        with self._use() as (view, searcher):
            status = self._status(view)
            if view._stats is None:
                reader = searcher.reader()
                view._stats = {
                    "documents": searcher.doc_count(),
                    "generation": view.marker.generation,
                    "built_at": _iso(view.marker.built_at),
                    "entities": {
                        kind: _distinct_names(view, reader, kind) if kind in reader.schema else 0
                        for kind in ENTITY_TYPES
                    },
                }
            return {
                **view._stats,
                "segments": len(view._toc.segments),
                "size_bytes": status.size_bytes if status else None,
                "last_commit_at": _iso(status.last_commit_at) if status else None,
                "cache": {"entries": self.cache_size(), "capacity": self.settings.cache_size},
            }

    def _status(self, view: _View) -> IndexStatus | None:
        """The store's status when it still describes `view` (else a rebuild is being swapped in: None)."""
        try:
            status = self.store.status()
        except (IndexStoreError, OSError):
            return None
        return status if status is not None and status.generation == view.marker.generation else None

    def ready(self) -> dict[str, Any]:
        """Raises IndexUnavailableError unless the index is open and readable. Says nothing else: /ready is open
        to anyone (counts and the generation are in /stats, behind the search key)."""
        with self._use() as (_, searcher):
            searcher.doc_count()
            return {"status": "ready"}


_INVERT = str.maketrans("0123456789", "9876543210")


def _inverted(iso: str) -> str:
    """A key that sorts ISO dates newest first in ascending order (digit-wise complement)."""
    return iso.translate(_INVERT)


def _distinct_names(view: _View, reader: Any, kind: str) -> int:
    """Distinct names of one entity type among live documents. The lexicon keeps the names of deleted and
    replaced documents until their segment is merged, so with deletions the names come from the view's facet
    keys (read once from the column, and reused by facet requests)."""
    if not reader.has_deletions():
        return sum(1 for _ in reader.lexicon(kind))
    return view.facet_column(kind).distinct(list(reader.all_doc_ids()))


def _live_count(reader: Any, fieldname: str, text: Any) -> int:
    """Documents containing a term, not counting deleted ones."""
    return sum(1 for docnum in reader.postings(fieldname, text).all_ids() if not reader.is_deleted(docnum))


def _timed_out(request: SearchRequest, started: float) -> SearchResult:
    """The answer of a search whose time ran out before it found anything."""
    return SearchResult(
        query=request.q,
        total=0,
        total_relation="gte",
        took_ms=_ms(started),
        limit=request.limit,
        offset=request.offset,
        hits=[],
        facets={name: [] for name in request.facets},
        suggestion=None,
        timed_out=True,
    )


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _display_name(reader: Any, creader: Any, kind: str, term: str) -> str:
    """The name as written in a document that has it (keyword terms are lowercased)."""
    postings = reader.postings(kind, term)
    if postings.is_active():
        raw = creader[postings.id()]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        for part in raw.split(","):
            if part.strip().lower() == term:
                return part.strip()
    return term


def _feedback_docs(
    searcher: Searcher, built: BuiltQuery, deadline: float, found: kernel.Kernel | None
) -> tuple[list[tuple[float | None, int]], bool]:
    """The first FEEDBACK_DOCS hits of `built` as (score, docnum) with the live statistics (equal scores by
    docnum), and whether time ran out: by the kernel when it answers the query, else by Whoosh."""
    if found is not None:
        try:
            docs, scores, timed_out = found.run(built.query, found.live_statistics(), _verifier(searcher), deadline)
            ranks = np.arange(found.documents, dtype=np.int64)
            return list(kernel.top(docs, scores, ranks, FEEDBACK_DOCS, SCORE_DIGITS)), timed_out
        except kernel.Unsupported:
            pass
    collector = _BoundedCollector(FEEDBACK_DOCS, 0, deadline, False)
    searcher.search_with_collector(built.query, collector)
    return collector.ranked(), collector.timed_out


def _feedback_terms(
    searcher: Searcher, built: BuiltQuery, deadline: float, found: kernel.Kernel | None = None
) -> tuple[tuple[str, float], ...]:
    """Pseudo-relevance feedback terms for `built` from its first FEEDBACK_DOCS hits (FEEDBACK_MODEL's weights,
    stopwords left out), with boosts scaled to hold FEEDBACK_WEIGHT of the expanded query's weight; () when there
    are none."""
    top, timed_out = _feedback_docs(searcher, built, deadline, found)
    if not top or timed_out:
        return ()
    texts = []
    for _, docnum in top:
        stored = searcher.stored_fields(docnum)
        texts.append(f"{stored.get('title') or ''}\n{stored.get('body') or ''}"[:FEEDBACK_CHARS])
    reader = searcher.reader()
    if FEEDBACK_MODEL == "rm3":
        ranked = _relevance_model(reader, [score or 0.0 for score, _ in top], texts)
    else:
        expander = classify.Expander(reader, COMBINED_FIELD, model=classify.Bo1Model)
        for text in texts:
            expander.add_text(text)
        ranked = expander.expanded_terms(FEEDBACK_TERMS + len(_STOPWORD_STEMS))
    terms = [(t, w) for t, w in ranked if t not in _STOPWORD_STEMS][:FEEDBACK_TERMS]
    query_weight = sum(
        q.boost for q in built.query.leaves() if isinstance(q, wq.Term) and q.fieldname == COMBINED_FIELD
    )
    terms_weight = sum(w for _, w in terms)
    if not terms or not query_weight or not terms_weight:
        return ()
    scale = FEEDBACK_WEIGHT / (1 - FEEDBACK_WEIGHT) * query_weight / terms_weight
    return tuple((t, scale * w) for t, w in terms)


def _relevance_model(reader: Any, scores: list[float], texts: list[str]) -> list[tuple[str, float]]:
    """RM3's relevance model: each feedback document's term distribution (tf / its length), weighted by its
    share of the feedback documents' scores; terms by weight, best first. A long document counts as much as a
    short one, where Bo1 over the documents' summed counts lets a long one choose the terms."""
    field = reader.schema[COMBINED_FIELD]
    total = sum(scores) or 1.0
    weights: dict[str, float] = {}
    for score, text in zip(scores, texts, strict=True):
        counts = [(field.from_bytes(t), freq) for t, freq, _, _ in field.index(text)]
        length = sum(freq for _, freq in counts) or 1
        for term, freq in counts:
            weights[term] = weights.get(term, 0.0) + score / total * freq / length
    return sorted(weights.items(), key=lambda tw: (-tw[1], tw[0]))


def _with_terms(built: BuiltQuery, terms: tuple[tuple[str, float], ...]) -> BuiltQuery:
    """`built` with feedback terms (term, boost) OR-ed to its text."""
    return built.expanded(wq.Or([wq.Term(COMBINED_FIELD, t, boost=w) for t, w in terms]))


def _fingerprint(request: SearchRequest) -> str:
    """What a cursor must be used with: the same query, match mode, filters and sort."""
    return fingerprint(request.q, request.match, request.filters, request.effective_sort)


def _documents_with(found: kernel.Kernel, fieldname: str, word: str) -> int:
    return found.doc_frequency(fieldname, word.encode("utf-8"))


def _suggest(
    searcher: Searcher, q: str, words: list[tuple[int, str]], deadline: float, found: kernel.Kernel | None
) -> tuple[str | None, bool]:
    """`q` with unknown words replaced by the likeliest known spelling: entity names first (they are
    unstemmed), then the body's spelling field when the schema keeps one; and whether every word was looked at
    before the deadline (the clock is read before each word after the first SUGGEST_UNCHECKED). With the kernel,
    a field it holds is searched by search/spelling.py (under a millisecond a word); else by Whoosh's corrector
    (1-140 ms a word)."""
    reader = searcher.reader()
    schema = reader.schema
    fields = []
    if "entity" in schema:
        fields.append("entity")
    if COMBINED_FIELD in schema and schema[COMBINED_FIELD].separate_spelling():
        fields.append(COMBINED_FIELD)
    if not fields:
        return None, True
    replacements: list[tuple[int, int, str]] = []
    complete = True
    for n, (pos, word) in enumerate(words):
        if n >= SUGGEST_UNCHECKED and time.monotonic() > deadline:
            complete = False
            break
        norm = normalise(word)
        if len(norm) < 3 or norm in STOPWORDS or not norm.isalpha():
            continue
        if reader.doc_frequency("entity", norm) or reader.doc_frequency(COMBINED_FIELD, stem(norm)):
            continue
        for fieldname in fields:
            spelled = schema[fieldname].spelling_fieldname(fieldname)
            if found is not None and spelled == fieldname and fieldname in postings.KERNEL_FIELDS:
                known = spelling.nearest(
                    norm,
                    found.terms_starting(fieldname, norm[:1]),
                    functools.partial(_documents_with, found, fieldname),
                )
            else:
                # The first letter is taken as right, as above: it cuts the lexicon walked by the edit-distance
                # automaton about six times (Reuters x5: 460-620 ms -> 40-115 ms a word).
                suggestions = reader.corrector(fieldname).suggest(norm, limit=1, maxdist=spelling.MAX_EDITS, prefix=1)
                known = suggestions[0] if suggestions else None
            if known:
                replacements.append((pos, pos + len(word), known))
                break
    if not replacements:
        return None, complete
    out, last = [], 0
    for start, end, text in replacements:
        out.append(q[last:start])
        out.append(text)
        last = end
    out.append(q[last:])
    return "".join(out), complete
