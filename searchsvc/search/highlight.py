"""Snippets: the parts of a title or body around what a query matched, matches in <mark>, the rest escaped.

Whoosh's highlighter marks single terms, so "Belt and Road" would come back as three marks (and "and"
anywhere in the text would be marked too). Here a phrase is found as a run of tokens and marked as one span,
terms are matched the way the index analysed them (the same word pattern, possessive folding and
stemming as schema.text_analyzer), and everything outside <mark> is HTML-escaped.

Only returned hits are highlighted, and only the first `MAX_SCAN_CHARS` of a text are scanned, so the cost per
response is bounded whatever the documents' size.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

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
_SPACE_TO_COLLAPSE = re.compile(r"\s{2,}|[^\S ]")  # what _SPACE finds but a lone " " (to leave alone)
_NAME_FIELDS = ("entity", *ENTITY_TYPES)
_OPEN, _CLOSE = "\ue000", "\ue001"  # <mark> and </mark> while a fragment is escaped (see render)


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

    _compiled: tuple[tuple[int, int, int], _Finder] | None = field(default=None, init=False, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.stems or self.names or self.phrases)

    def finder(self) -> _Finder:
        """The marks compiled for finding, once per request (title and body of every hit share them); compiled
        again if words were added since."""
        size = (len(self.stems), len(self.names), len(self.phrases))
        if self._compiled is None or self._compiled[0] != size:
            phrases = tuple(dict.fromkeys(self.phrases))
            self._compiled = (size, _finder(frozenset(self.stems), frozenset(self.names), phrases))
        return self._compiled[1]


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
# Where a token starts (_WORD's rule: a word character not continuing a token; the lookbehinds sit after the first
# character so that the pattern starts with a character set, which the regex engine scans for in C), and the rest
# of a token once its first characters matched.
_STARTS_TOKEN = r"(?<!\w.)(?<!\w['’.].)"
_REST_OF_TOKEN = r"\w*(?:['’.]\w+)*"
_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True)
class _Finder:
    """The marks of one field, compiled once: a regex that finds, in C, only the tokens that may be a wanted
    word, and the sets that decide whether they are."""

    candidates: re.Pattern[str] | None
    term_stems: frozenset[str]  # marked alone
    term_names: frozenset[str]
    stems: frozenset[str]  # every stemmed word wanted: terms and words of stemmed phrases
    names: frozenset[str]  # every unstemmed word wanted
    phrases: tuple[tuple[tuple[str, ...], bool], ...]  # distinct, in order


@functools.lru_cache(maxsize=256)
def _finder(
    term_stems: frozenset[str], term_names: frozenset[str], phrases: tuple[tuple[tuple[str, ...], bool], ...]
) -> _Finder:
    """Compiled once per distinct marks (a request's title and body usually share theirs; so do repeated queries)."""
    stems = term_stems | {w for ws, stemmed in phrases if stemmed for w in ws}
    names = term_names | {w for ws, stemmed in phrases if not stemmed for w in ws}
    prefixes = {w for w in names if w} | {p for s in stems for p in _stem_prefixes(s)}
    return _Finder(_candidate_pattern(prefixes), term_stems, term_names, stems, names, phrases)


def _stem_prefixes(s: str) -> list[str]:
    """What every word stemming to `s` starts with, once lowercased and its dots dropped: all of `s` but its last
    letter, and at least its first two (the stemmer rewrites endings only: "happy" -> "happi"), and for "...ie"
    also "...y" (Snowball's "dying" -> "die"). Checked against the 217,830 distinct words of ../shared/data."""
    if not s:
        return []
    found = [s[: max(min(2, len(s)), len(s) - 1)].rstrip("'’") or s[:1]]
    if s.endswith("ie") and len(s) > 2:
        found.append(s[:-2] + "y")
    return found


# Capitals whose lowercase is a letter that does not uppercase back to them (Kelvin sign K -> k); the test
# checks this against every Unicode character.
OTHER_CAPITALS = {"k": "\u212a", "å": "\u212b", "ω": "\u2126", "ß": "\u1e9e", "θ": "\u03f4"}


def _cased(ch: str) -> str:
    """The characters a token may have where `ch` is wanted: those that lowercase to it (one character each)."""
    variants = dict.fromkeys([ch, ch.upper(), ch.title(), OTHER_CAPITALS.get(ch, ch)])
    return "".join(re.escape(v) for v in variants if len(v) == 1)


def _candidate_pattern(prefixes: set[str]) -> re.Pattern[str] | None:
    """One regex for the tokens that start with one of `prefixes` (lowercase, no dots), in any case and with dots
    between letters ("U.S."), built as a trie so that each position is tried against each letter once."""
    prefixes = {p for p in prefixes if _WORD_CHAR.match(p)}
    if not prefixes:
        return None
    trie: dict[str, Any] = {}
    for p in prefixes:
        node = trie
        for ch in p:
            node = node.setdefault(ch, {})
        node[""] = {}

    def rest(node: dict[str, Any]) -> str:
        if "" in node:  # a whole prefix matched: whatever follows in the token is fine
            return ""
        branches = [rf"\.?[{_cased(ch)}]" + rest(child) for ch, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    firsts = "".join(_cased(ch) for ch in sorted(trie))
    if len(trie) == 1:
        (only,) = trie.values()
        after_first = rest(only)
    else:
        after_first = "(?:" + "|".join(f"(?<=[{_cased(ch)}]){rest(node)}" for ch, node in sorted(trie.items())) + ")"
    return re.compile(f"[{firsts}]{_STARTS_TOKEN}{after_first}{_REST_OF_TOKEN}")


def find_spans(text: str, marks: Marks) -> list[tuple[int, int]]:
    """Character spans to mark: phrases as one span each, then single terms; overlapping spans merged, and
    marks separated only by whitespace joined ("<mark>Sergey Lavrov</mark>").

    The regex of the marks finds the tokens that may be wanted (a few of the text's); only those are normalised
    and stemmed in Python. Phrase words are adjacent when no word character lies between them."""
    if not marks or not text:
        return []
    finder = marks.finder()
    if finder.candidates is None:
        return []
    stems, names = finder.stems, finder.names
    candidates: list[tuple[str, str, int, int]] = []  # (word, stem, start, end), in text order
    spans: list[tuple[int, int]] = []
    for m in finder.candidates.finditer(text, 0, MAX_SCAN_CHARS):
        word = normalise(m.group())
        stemmed = stem(word) if stems else word
        if word in names or stemmed in stems:
            candidates.append((word, stemmed, m.start(), m.end()))
            if word in finder.term_names or stemmed in finder.term_stems:
                spans.append((m.start(), m.end()))
    for words, is_stemmed in finder.phrases:
        key = 1 if is_stemmed else 0
        last = len(candidates) - len(words)
        for i, first in enumerate(candidates):
            if i > last:
                break
            if first[key] != words[0]:
                continue
            end = first[3]
            for j in range(1, len(words)):
                following = candidates[i + j]
                if following[key] != words[j] or _WORD_CHAR.search(text, end, following[2]):
                    break
                end = following[3]
            else:
                spans.append((first[2], end))
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
    """text[start:end] with spans in <mark>, everything HTML-escaped, whitespace runs collapsed.

    The tags stand in the text as two private-use characters while it is escaped and collapsed in one pass each
    (neither is whitespace nor escaped, so each segment comes out as if done alone); a text holding either
    character is done segment by segment."""
    end = len(text) if end is None else end
    clipped = [(max(s, start), min(e, end)) for s, e in spans if e > start and s < end]
    if text.find(_OPEN, start, end) >= 0 or text.find(_CLOSE, start, end) >= 0:
        return _rendered_by_segment(text, clipped, start, end)
    out: list[str] = []
    pos = start
    for s, e in clipped:
        out += (text[pos:s], _OPEN, text[s:e], _CLOSE)
        pos = e
    out.append(text[pos:end])
    # Splitting on whitespace runs and joining with one space is _plain's collapse and the final strip at once.
    escaped = " ".join(html.escape("".join(out), quote=False).split())
    return escaped.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _rendered_by_segment(text: str, clipped: list[tuple[int, int]], start: int, end: int) -> str:
    out: list[str] = []
    pos = start
    for s, e in clipped:
        out.append(_plain(text[pos:s]))
        out.append(f"<mark>{_plain(text[s:e])}</mark>")
        pos = e
    out.append(_plain(text[pos:end]))
    return "".join(out).strip()


def _plain(segment: str) -> str:
    return _SPACE_TO_COLLAPSE.sub(" ", html.escape(segment, quote=False))


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
