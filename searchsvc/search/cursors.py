"""Opaque `search_after` cursors: where a page of a search ended, and what it needs to go on identically.

A cursor holds the last hit's sort value and id (every sort ties by id, so the order is total and does not depend
on Whoosh's document numbers, which change as segments merge), the generation it was made on, a fingerprint of
the search it belongs to, and for relevance the collection statistics and feedback terms the first page scored
with: BM25's weights depend on the documents in the index, so a walk keeps scoring as its first page did while
documents are written, and no document present throughout is seen twice or skipped.

The token is JSON, deflated and base64url-encoded; it is checked when read (any malformed token is a 400 on
`cursor`), never trusted to be small (inflating stops at MAX_INFLATED bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from searchsvc.errors import ParameterError

VERSION = 1
PREFIX = "c1."
MAX_TOKEN = 16_384  # characters of a token accepted
MAX_INFLATED = 65_536  # bytes a token may inflate to
MAX_STATS_TERMS = 256  # terms whose document frequency a relevance cursor freezes (the rest are read live)


@dataclass(frozen=True)
class Stats:
    """What BM25 read from the whole collection: document count, average field lengths, document frequencies."""

    documents: int
    avg_lengths: dict[str, float] = field(default_factory=dict)
    frequencies: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    fingerprint: str  # of the search (query, filters, sort): a cursor only continues its own search
    generation: str  # of the index the page was made on
    key: float | str  # the last hit's sort value: its rounded score, or its date key
    id: str  # the last hit's id (the tiebreak)
    stats: Stats | None = None  # relevance only
    feedback: tuple[tuple[str, float], ...] | None = None  # relevance only: the feedback terms and boosts

    def encode(self) -> str:
        data: dict[str, Any] = {"v": VERSION, "f": self.fingerprint, "g": self.generation, "k": self.key, "i": self.id}
        if self.stats is not None:
            data["n"] = self.stats.documents
            data["l"] = self.stats.avg_lengths
            data["d"] = [[f, t, n] for (f, t), n in self.stats.frequencies.items()]
        if self.feedback is not None:
            data["b"] = [[t, w] for t, w in self.feedback]
        raw = zlib.compress(orjson.dumps(data), 9)
        return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:16]


def _invalid(reason: str) -> ParameterError:
    return ParameterError(f"cursor: {reason}; pass the `next` of the previous page unchanged", "cursor")


def decode(token: str) -> Cursor:
    """The cursor of a token; ParameterError (field `cursor`) for anything that is not one of ours."""
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
        raise _invalid("not a cursor")
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        text = inflater.decompress(raw, MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise _invalid("too large")
        data = orjson.loads(text)
    except (binascii.Error, ValueError, zlib.error):
        raise _invalid("not a cursor") from None
    try:
        return _from_json(data)
    except (TypeError, ValueError, KeyError, AttributeError):
        raise _invalid("not a cursor") from None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("not a number")
    return float(value)


def _from_json(data: Any) -> Cursor:
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise ValueError("version")
    key = data["k"]
    if not isinstance(key, str):
        key = _number(key)
    fp, generation, doc_id = data["f"], data["g"], data["i"]
    if not all(isinstance(v, str) for v in (fp, generation, doc_id)):
        raise ValueError("types")
    stats = None
    if "n" in data:
        lengths = {str(k): _number(v) for k, v in dict(data["l"]).items()}
        frequencies: dict[tuple[str, str], int] = {}
        for item in list(data["d"])[:MAX_STATS_TERMS]:
            f, t, n = item
            if not (isinstance(f, str) and isinstance(t, str) and isinstance(n, int)) or n < 0:
                raise ValueError("frequency")
            frequencies[(f, t)] = n
        documents = data["n"]
        if not isinstance(documents, int) or isinstance(documents, bool) or documents < 0:
            raise ValueError("documents")
        stats = Stats(documents, lengths, frequencies)
    feedback = None
    if "b" in data:
        feedback = tuple((str(t), _number(w)) for t, w in list(data["b"])[:64])
        if not all(isinstance(t, str) for t, _ in list(data["b"])[:64]):
            raise ValueError("feedback")
    return Cursor(fp, generation, key, doc_id, stats, feedback)
