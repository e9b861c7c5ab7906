"""Snippets: the parts of a title or body around what a query matched, matches in <mark>, the rest escaped.

Whoosh's highlighter marks single terms, so "Belt and Road" would come back as three marks (and "and"
anywhere in the text would be marked too). Here a phrase is found as a run of tokens and marked as one span,
terms are matched the way the index analysed them (the same word pattern, possessive folding and
stemming as schema.text_analyzer), and everything outside <mark> is HTML-escaped.

Only returned hits are highlighted, and only the first `MAX_SCAN_CHARS` of a text are scanned, so the cost per
response is bounded whatever the documents' size.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

from whoosh import query as wq

from searchsvc.extract.types import ENTITY_TYPES
from searchsvc.index.schema import COMBINED_FIELD, TEXT_FIELDS, WORD_PATTERN, stem, unpossessive
from searchsvc.search.expansion import Expanded
from searchsvc.search.field_parts import FieldPart

if TYPE_CHECKING:
    from whoosh.reading import IndexReader

MAX_SCAN_CHARS = 100_000
FRAGMENT_CHARS = 220
CONTEXT_CHARS = 70
MAX_FRAGMENTS = 3
_WORD = re.compile(WORD_PATTERN)
_SPACE = re.compile(r"\s+")
_NAME_FIELDS = ("entity", *ENTITY_TYPES)


def normalise(word: str) -> str:
    """A word as the analyzers index it before stemming (index.schema's rule, after lowercasing)."""
    return unpossessive(word.lower())


@dataclass
class Marks:
    """What to mark in one text field: stemmed terms and phrases from the field itself, unstemmed name terms
    and phrases from the entity fields (a search for `entity:lavrov` marks "Lavrov" in the body)."""

    stems: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    phrases: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (words, stemmed)

    def __bool__(self) -> bool:
        return bool(self.stems or self.names or self.phrases)


def marks_from_query(q: wq.Query | None, reader: IndexReader, max_expansion: int) -> dict[str, Marks]:
    """Marks for each text field from the positive parts of `q` (what an AndNot excludes is not marked)."""
    marks = {f: Marks() for f in TEXT_FIELDS}
    if q is not None:
        _collect(q, marks, reader, max_expansion)
    return marks


def _add(marks: dict[str, Marks], fieldname: str, words: list[str], slop: int = 1) -> None:
    words = [w for w in words if w]
    if not words:
        return
    if fieldname in TEXT_FIELDS:
        targets, stemmed = [marks[fieldname]], True
    elif fieldname == COMBINED_FIELD:  # title and body together: mark both
        targets, stemmed = list(marks.values()), True
    elif fieldname in _NAME_FIELDS:
        targets, stemmed = list(marks.values()), False
        if fieldname != "entity":  # keyword fields hold whole names: mark their words as a phrase
            words = [w for name in words for w in _WORD.findall(name)]
            words = [normalise(w) for w in words]
    else:
        return
    for target in targets:
        if len(words) == 1 or slop > 1:
            (target.stems if stemmed else target.names).update(words)
        else:
            target.phrases.append((tuple(words), stemmed))


def _collect(q: wq.Query, marks: dict[str, Marks], reader: IndexReader, limit: int) -> None:
    if isinstance(q, FieldPart):  # a `title:` or `body:` query on `text`: mark that part only
        part = {f: Marks() for f in TEXT_FIELDS}
        _collect(q.q, part, reader, limit)
        found = part[q.part]
        marks[q.part].stems |= found.stems
        marks[q.part].names |= found.names
        marks[q.part].phrases += found.phrases
        return
    if isinstance(q, wq.AndNot):
        _collect(q.a, marks, reader, limit)
        return
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.Require):  # what it requires only narrows the matches
        _collect(q.a, marks, reader, limit)
        return
    if isinstance(q, wq.Phrase):
        _add(marks, q.fieldname, list(q.words), q.slop)
        return
    if isinstance(q, (wq.Prefix, wq.Wildcard, wq.FuzzyTerm, Expanded)):
        expanded = [
            t.decode("utf-8") if isinstance(t, bytes) else t for _, t in islice(q.expanded_terms(reader), limit)
        ]
        for text in expanded:
            _add(marks, q.fieldname, [text])
        return
    if isinstance(q, wq.Term):
        _add(marks, q.fieldname, [q.text])
        return
    for child in q.children():
        _collect(child, marks, reader, limit)


# -- finding spans -------------------------------------------------------------------------------------------
def find_spans(text: str, marks: Marks) -> list[tuple[int, int]]:
    """Character spans to mark: phrases as one span each, then single terms; overlapping spans merged, and
    marks separated only by whitespace joined ("<mark>Sergey Lavrov</mark>").

    Only tokens whose first two letters start some wanted word are normalised and stemmed (most are not);
    their index in the token sequence is kept, so phrase words are adjacent when their indexes are."""
    if not marks or not text:
        return []
    stem_words = marks.stems | {w for ws, stemmed in marks.phrases if stemmed for w in ws}
    name_words = marks.names | {w for ws, stemmed in marks.phrases if not stemmed for w in ws}
    stem_heads = {w[:2] for w in stem_words}
    heads = stem_heads | {w[:2] for w in name_words}
    candidates: dict[int, tuple[str, str, int, int]] = {}  # token index -> (word, stem, start, end)
    for i, m in enumerate(_WORD.finditer(text, 0, MAX_SCAN_CHARS)):
        raw = m.group()
        head = normalise(raw)[:2] if "." in raw[:3] else raw[:2].lower()
        if head not in heads:
            continue
        word = normalise(raw)
        candidates[i] = (word, stem(word) if head in stem_heads else word, m.start(), m.end())
    spans: list[tuple[int, int]] = []
    for word, stemmed, start, end in candidates.values():
        if word in marks.names or stemmed in marks.stems:
            spans.append((start, end))
    # Each phrase is tried only where its first word is (not at every candidate), and each distinct phrase once.
    starts: dict[tuple[int, str], list[int]] = {}
    for i, (word, stemmed, _, _) in candidates.items():
        starts.setdefault((0, word), []).append(i)
        starts.setdefault((1, stemmed), []).append(i)
    for words, is_stemmed in dict.fromkeys(marks.phrases):
        key = 1 if is_stemmed else 0
        for i in starts.get((key, words[0]), ()):
            first = candidates[i]
            following = [candidates.get(i + j) for j in range(1, len(words))]
            if all(c is not None and c[key] == w for c, w in zip(following, words[1:], strict=True)):
                last = following[-1] if following else first
                assert last is not None  # all() above
                spans.append((first[2], last[3]))
    return _merge(spans, text)


def _merge(spans: Iterable[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip()):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# -- rendering -----------------------------------------------------------------------------------------------
def render(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """text[start:end] with spans in <mark>, everything HTML-escaped, whitespace runs collapsed."""
    end = len(text) if end is None else end
    out: list[str] = []
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(_plain(text[pos:s]))
        out.append(f"<mark>{_plain(text[s:e])}</mark>")
        pos = e
    out.append(_plain(text[pos:end]))
    return "".join(out).strip()


def _plain(segment: str) -> str:
    return _SPACE.sub(" ", html.escape(segment, quote=False))


def highlight_title(title: str, marks: Marks) -> list[str]:
    """The whole title with its matches marked, or nothing when it has none."""
    spans = find_spans(title, marks)
    return [render(title, spans)] if spans else []


def highlight_body(
    body: str, marks: Marks, *, max_fragments: int = MAX_FRAGMENTS, fragment_chars: int = FRAGMENT_CHARS
) -> list[str]:
    """Up to `max_fragments` snippets around the densest matches, in text order, cut at word boundaries."""
    spans = find_spans(body, marks)
    if not spans:
        return []
    windows: list[tuple[int, int, int, int]] = []  # (-distinct words, first span, start, end)
    i = previous_end = 0
    while i < len(spans):
        start = min(max(previous_end, spans[i][0] - CONTEXT_CHARS), spans[i][0])
        limit = start + fragment_chars
        j = i
        while j + 1 < len(spans) and spans[j + 1][1] <= limit:
            j += 1
        distinct = len({body[s:e].lower() for s, e in spans[i : j + 1]})
        if j + 1 < len(spans):
            limit = min(limit, spans[j + 1][0])
        end = min(len(body), max(limit, spans[j][1]))
        windows.append((-distinct, i, start, end))
        previous_end = end
        i = j + 1
    chosen = sorted(sorted(windows)[:max_fragments], key=lambda w: w[1])
    fragments = []
    for _, _, start, end in chosen:
        start, end = _snap(body, start, end)
        text = render(body, spans, start, end)
        fragments.append(("… " if start > 0 else "") + text + (" …" if end < len(body) else ""))
    return fragments


def _snap(text: str, start: int, end: int) -> tuple[int, int]:
    """Move the cut points to whitespace so no word is split: the start forward (never past the first match,
    which is CONTEXT_CHARS away), the end forward to the end of its word."""
    if 0 < start < len(text) and not text[start - 1].isspace() and not text[start].isspace():
        if m := _SPACE.search(text, start, start + CONTEXT_CHARS):
            start = m.end()
    if 0 < end < len(text) and not text[end - 1].isspace() and not text[end].isspace():
        m = _SPACE.search(text, end, end + 40)
        end = m.start() if m else end
    return start, end
