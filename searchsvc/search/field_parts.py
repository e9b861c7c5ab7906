"""`title:` and `body:` queries, answered from the positions of the combined `text` field.

The index keeps the words of a document once, in `text` (the title twice, then the body; schema.py), and per
document how many positions the title takes. A `title:` match is a match in `text` that ends inside the first
title copy; a `body:` match one that starts in the body (schema.body_start). The parts are POSITION_GAP apart, so
no phrase spans two of them. Lucene would index each field on its own; here that copy of every word made the
index 1.7x a plain one, for queries that are rare.

Scores are `text`'s (a body word that is also in the title scores as in an unscoped query).
"""

from __future__ import annotations

from typing import Any

from whoosh import matching
from whoosh import query as wq
from whoosh.query.spans import SpanNear2, SpanOr, SpanWrappingMatcher, WrappingSpan

from searchsvc.index.schema import body_start
from searchsvc.search.expansion import Expanded

PARTS = ("title", "body")
TITLE_POSITIONS = "title_positions"  # the column: positions the title takes in `text`


class FieldPart(WrappingSpan):
    """Matches `q` (a Term, Phrase, Prefix, Wildcard or FuzzyTerm on `text`) only within `part`."""

    def __init__(self, q: wq.Query, part: str) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}")
        self.q = q
        self.part = part

    def __repr__(self) -> str:
        return f"FieldPart({self.q!r}, {self.part!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldPart) and self.q == other.q and self.part == other.part

    def __hash__(self) -> int:
        return hash(self.q) ^ hash(self.part)

    @property
    def boost(self) -> float:
        """The wrapped query's: Whoosh's normalize() multiplies a flattened group's boost into each child (it
        raised AttributeError here, a 500 for `title:harbour storm`)."""
        return float(self.q.boost)

    def with_boost(self, boost: float) -> FieldPart:
        return FieldPart(self.q.with_boost(boost), self.part)

    def children(self):
        return iter([self.q])

    def apply(self, fn):
        return FieldPart(fn(self.q), self.part)

    def estimate_size(self, ixreader: Any) -> int:
        return int(self.q.estimate_size(ixreader))

    def estimate_min_size(self, ixreader: Any) -> int:
        return 0  # none of the matches may fall in the part

    def matcher(self, searcher: Any, context: Any = None) -> matching.Matcher:
        weighting = getattr(context, "weighting", None)
        if isinstance(self.q, Expanded) and weighting is not None and hasattr(weighting, "blended"):
            context = context.set(weighting=weighting.blended(searcher, self.q))  # as Expanded.matcher
        q = _with_spans(self.q, searcher.reader())
        if q is None:
            return matching.NullMatcher()
        child = q.matcher(searcher, context)
        if not child.is_active():
            return child
        return _PartMatcher(child, self.part, searcher.reader().column_reader(TITLE_POSITIONS))


def _with_spans(q: wq.Query, reader: Any) -> wq.Query | None:
    """`q` as a query whose matcher reports positions: phrases as SpanNear2, patterns as SpanOr of their terms."""
    if isinstance(q, wq.Phrase):
        terms = [wq.Term(q.fieldname, w, boost=q.boost) for w in q.words]
        return SpanNear2(terms, slop=q.slop, ordered=True, mindist=1)
    if isinstance(q, (wq.Prefix, wq.Wildcard, wq.FuzzyTerm, Expanded)):
        # An Expanded query lists the terms of every segment: keep this segment's.
        btexts = [t for t in q._btexts(reader) if (q.fieldname, t) in reader]
        texts = [t.decode("utf-8") if isinstance(t, bytes) else t for t in btexts]
        terms = [wq.Term(q.fieldname, t, boost=q.boost) for t in texts]
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else SpanOr(terms)
    return q


class _PartMatcher(SpanWrappingMatcher):
    def __init__(self, child: matching.Matcher, part: str, title_positions: Any) -> None:
        self.part = part
        self.title_positions = title_positions
        super().__init__(child)

    def copy(self) -> _PartMatcher:
        return _PartMatcher(self.child.copy(), self.part, self.title_positions)

    def _replacement(self, newchild: matching.Matcher) -> _PartMatcher:
        return _PartMatcher(newchild, self.part, self.title_positions)

    def supports_block_quality(self) -> bool:
        return False  # skipping by the child's block quality would skip the span check

    def _get_spans(self) -> list[Any]:
        n = self.title_positions[self.child.id()]
        if self.part == "title":
            return [span for span in self.child.spans() if span.end < n]
        return [span for span in self.child.spans() if span.start >= body_start(n)]
