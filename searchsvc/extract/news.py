"""News-wire conventions that the NER model does not know, applied to a document's mentions before resolution.

- A dateline ("BOMBAY, March 3 -", "WASHINGTON (Reuters) -") names the place the story was filed from: a
  place, whatever spaCy tagged it (capitals read to it like an organisation). The wire it names, and a wire
  signature on the last line (" Reuter"), are metadata: that name is the document's source, not a mention,
  wherever the document writes it (`source_key`; the indexer also drops the `source` field's name).
- Text set in capitals (a headline, or a story that is only its headline: "REAGAN RENEWS ANTI-PROTECTIONISM")
  is not read as names: the model, trained on mixed case, takes any capitalised word for one.
- Rows of tables and figures ("Avg shrs 12.3 mln vs 11.1 mln", "Revs 1.2 billion dlrs") are not prose: their
  labels are abbreviations, not names.
- A name is kept whole or not at all: "Institute of Russian" cut at the comma of "Institute of Russian,
  Eastern European and Central Asian Studies" is extended to the full name when the text continues it, else
  dropped; "Poor's Corp" cut from "Standard & Poor's Corp" (or "Standard and Poor's") takes back its first word;
  a dateline inside a digest of stories ("WASHINGTON - Federal Reserve Board ...") is cut from the name after
  it; "China Foreign Affairs" before "professor" (a university named by its field) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .canonical import name_key
from .lines import LineBreaks
from .names import ORG_HEADS
from .types import Extraction
from .types import RawMention as Mention

_DATELINE = re.compile(
    r"(?P<place>[A-Z][A-Z.'\-]*(?: [A-Z][A-Z.'\-]*){0,3})"  # BOMBAY, NEW YORK, ST. LOUIS
    r"(?:\s*,\s*(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}|[A-Z]{3,9}\s+\d{1,2}))?"  # , March 3
    r"(?:\s*\((?P<wire>[A-Za-z][A-Za-z .&]{1,30})\))?"  # (Reuters)
    r"\s*[-\u2013\u2014]+\s"
)
# "WASHINGTON - Federal Reserve Board" read as one name: a dateline inside a digest of stories, then the name.
_INNER_DATELINE = re.compile(r"^(?P<place>[A-Z][A-Z.']+(?: [A-Z][A-Z.']+){0,3}) [-\u2013\u2014]+ (?=\S)")
_SIGNATURE = re.compile(r"\n[ \t]*([A-Z][a-z]+)[ \t]*\n?\s*$")  # a last line of one capitalised word
# A line is a row of figures when this share of its words hold digits (and at least two do).
TABLE_DIGIT_SHARE = 0.25
TABLE_MAX_CHARS = 80
# Lines of capitals with at least this many words are headlines (a lone "NATO" on a line is not).
CAPITALS_MIN_WORDS = 2
_CUT_AT_COMMA = re.compile(r"\bof [A-Z][a-z]+(?:an|ese|ish|ian|ic|i|ch)$")  # "Institute of Russian"
_CONTINUATION = re.compile(r",((?: (?:[A-Z][\w'\-]*|and|of|for|&),?)+)")
_AMPERSAND_BEFORE = re.compile(r"([A-Z][\w.'\-]*) ?& ?$")
_AND_BEFORE = re.compile(r"([A-Z][\w.'\-]*) and $")  # "Standard and Poor's Corp": only before a possessive
# "China Foreign Affairs professor": an institution named by its field alone before an academic role is a name
# cut short (China Foreign Affairs University); it is dropped, as no one can tell how it goes on.
_FIELDS = frozenset("affairs studies relations economics sciences science law medicine engineering politics".split())
_ACADEMIC_ROLE = re.compile(r"\s+(?:professor|lecturer|researcher|scholar|student|dean|fellow)s?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Dateline:
    place: str
    place_start: int
    place_end: int
    wire: str | None


def find_dateline(text: str) -> Dateline | None:
    """The dateline opening the story (at the start, or after a title and a blank line), else None."""
    starts = [len(text) - len(text.lstrip())]
    blank = text.find("\n\n")
    if 0 <= blank < 300:
        starts.append(blank + 2 + len(text[blank + 2 :]) - len(text[blank + 2 :].lstrip()))
    for at in starts:
        m = _DATELINE.match(text, at)
        if m is None or len(m.group("place")) < 3:
            continue
        has_date_or_wire = m.group(0).rstrip(" -\u2013\u2014").endswith((")",)) or re.search(r"\d", m.group(0))
        if not has_date_or_wire:
            continue
        place = m.group("place")
        return Dateline(place, m.start("place"), m.end("place"), m.group("wire"))
    return None


def source_key(name: str) -> str:
    """A wire's key: "Reuter" (its signature) and "Reuters" are one source."""
    key = name_key(name)
    return key[:-1] if key.endswith("s") else key


def document_sources(text: str) -> set[str]:
    """Keys of the wires that the text names as its own source: in its dateline or its signature line."""
    out = set()
    dateline = find_dateline(text)
    if dateline is not None and dateline.wire:
        out.add(source_key(dateline.wire))
    m = _SIGNATURE.search(text)
    if m:
        out.add(source_key(m.group(1)))
    return out


class _Lines:
    """Whether the line around a position is a table row or set in capitals, each line judged once: a text of
    one long line and many mentions (20,000 characters, 375 mentions) was judged once a mention, quadratic."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.breaks = LineBreaks(text)
        self.skipped: dict[int, bool] = {}

    def skip(self, position: int) -> bool:
        number, start, end = self.breaks.line_of(position)
        found = self.skipped.get(number)
        if found is None:
            line = self.text[start:end]
            found = self.skipped[number] = is_capitals_line(line) or is_table_line(line)
        return found


def is_table_line(line: str) -> bool:
    """A short line whose words are largely figures and which is no sentence (a sentence ends with a full
    stop: "Smith (born 12 May 1965) is a footballer."): a row of a table or of results."""
    words = line.split()
    digits = sum(1 for w in words if any(c.isdigit() for c in w))
    row = (
        len(line.strip()) <= TABLE_MAX_CHARS
        and not line.rstrip().endswith((".", "!", "?", '"', "”"))
        and digits >= 2
        and digits >= TABLE_DIGIT_SHARE * len(words)
    )
    return row or (digits >= 3 and digits >= 0.5 * len(words))


def is_capitals_line(line: str) -> bool:
    """A line set in capitals: no lower-case letter, at least CAPITALS_MIN_WORDS words of letters."""
    words = [w for w in line.split() if any(c.isalpha() for c in w)]
    return len(words) >= CAPITALS_MIN_WORDS and not any(c.islower() for c in line)


def apply_conventions(mentions: Iterable[Mention], text: str) -> list[Mention]:
    """The mentions of `text` with the news conventions of the module docstring applied."""
    if not text:
        return list(mentions)
    dateline = find_dateline(text)
    sources = document_sources(text)
    lines = _Lines(text)
    out: list[Mention] = []
    placed = False
    for m in mentions:
        if m.start < 0:
            out.append(m)
            continue
        if dateline is not None and m.start < dateline.place_end and dateline.place_start < m.end:
            if not placed:  # the dateline's place, however it was tagged
                out.append(Mention(_title_case(dateline.place), "GPE", dateline.place_start, dateline.place_end))
                placed = True
            continue
        if sources and source_key(m.text.strip()) in sources:
            continue
        if lines.skip(m.start):
            continue
        inner = _INNER_DATELINE.match(m.text)
        if inner is not None:  # the dateline's place, and the name after it
            place = inner.group("place")
            out.append(Mention(_title_case(place), "GPE", m.start, m.start + len(place)))
            m = replace(m, text=m.text[inner.end() :], start=m.start + inner.end())
        fixed = _whole_name(m, text)
        if fixed is not None:
            out.append(fixed)
    if dateline is not None and not placed:
        out.append(Mention(_title_case(dateline.place), "GPE", dateline.place_start, dateline.place_end))
    return out


def _title_case(name: str) -> str:
    return " ".join(w.capitalize() if len(w.rstrip(".")) > 2 else w for w in name.split())


def _whole_name(m: Mention, text: str) -> Mention | None:
    """`m` extended to the whole name when the tagger cut it (see the module docstring); None when it was cut
    and the text does not say how it goes on."""
    stripped = m.text.rstrip()
    if _CUT_AT_COMMA.search(stripped) and text.startswith(",", m.end):
        c = _CONTINUATION.match(text, m.end)
        if c is None:
            return None
        tail = c.group(1).rstrip(",")
        words = tail.split()
        while words and not words[-1][:1].isupper():
            words.pop()
        if " and " not in f" {' '.join(words)} " or len(words) < 3:
            return None
        continuation = text[m.end : m.end + c.group(0).find(words[-1]) + len(words[-1])]
        return replace(m, text=m.text + continuation, end=m.end + len(continuation))
    words = stripped.split()
    lowered = [w.lower() for w in words]
    cut_institution = len(words) > 1 and lowered[-1] in _FIELDS and not set(lowered) & (ORG_HEADS | {"of"})
    if cut_institution and _ACADEMIC_ROLE.match(text, m.end):
        return None  # "London School of Economics professor" names its school: kept
    before = _AMPERSAND_BEFORE.search(text, max(0, m.start - 30), m.start)
    if before is None and re.match(r"\w+['\u2019]s\b", m.text):
        before = _AND_BEFORE.search(text, max(0, m.start - 30), m.start)
    if before is not None and m.label == "ORG" and m.text[:1].isupper():
        start = before.start()
        return replace(m, text=text[start : m.end], start=start)
    return m


def without_source(extraction: Extraction, source: str | None) -> Extraction:
    """`extraction` without the organisation that is the document's own source (its `source` field): a wire
    naming itself is metadata, not a mention."""
    if not source:
        return extraction
    key = source_key(source)
    kept = tuple(
        e for e in extraction.entities if e.type != "org" or all(source_key(n) != key for n in (e.name, *e.aliases))
    )
    return extraction if len(kept) == len(extraction.entities) else replace(extraction, entities=kept)
