"""Acronyms defined in a document's text, "North Atlantic Treaty Organization (NATO)", so that later "NATO"
mentions count towards the same entity.

The canonical name of a defined acronym is its long form: it is what a reader searching by name types, it
says what the acronym stands for in results, and it is the form that the document itself vouches for. A few
well-known acronyms (KNOWN_ACRONYMS) map to one long form in every document, defined there or not, so that
"NATO" in one article and "North Atlantic Treaty Organisation (Nato)" in another are one entity.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .lines import LineBreaks

# Words a long form may contain that give no letter to the acronym.
_SKIP_WORDS = frozenset("and of the for on in at to de du des la le el da del y & und fur für".split())

KNOWN_ACRONYMS: dict[str, str] = {
    "NATO": "North Atlantic Treaty Organization",
    "UN": "United Nations",
    "EU": "European Union",
    "IMF": "International Monetary Fund",
    "WTO": "World Trade Organization",
    "WHO": "World Health Organization",
    "OPEC": "Organization of the Petroleum Exporting Countries",
    "OECD": "Organisation for Economic Co-operation and Development",
    "ASEAN": "Association of Southeast Asian Nations",
    "FBI": "Federal Bureau of Investigation",
    "CIA": "Central Intelligence Agency",
    "ECB": "European Central Bank",
}

# Spellings of a known long form that name the same body.
_KNOWN_LONG_VARIANTS: dict[str, str] = {
    "north atlantic treaty organisation": "North Atlantic Treaty Organization",
    "world trade organisation": "World Trade Organization",
    "world health organisation": "World Health Organization",
    "organisation of the petroleum exporting countries": "Organization of the Petroleum Exporting Countries",
    "organisation of petroleum exporting countries": "Organization of the Petroleum Exporting Countries",
    "organization of petroleum exporting countries": "Organization of the Petroleum Exporting Countries",
    "organization for economic cooperation and development": ("Organisation for Economic Co-operation and Development"),
    "organisation for economic cooperation and development": ("Organisation for Economic Co-operation and Development"),
    "organization for economic co-operation and development": (
        "Organisation for Economic Co-operation and Development"
    ),
}
for _long in KNOWN_ACRONYMS.values():
    _KNOWN_LONG_VARIANTS[_long.lower()] = _long


@dataclass(frozen=True)
class AcronymDefinition:
    """One definition found in the text; offsets are character offsets into it."""

    short: str
    long: str
    long_start: int
    long_end: int
    paren_start: int
    paren_end: int


_PAREN = re.compile(r"\(\s*([^()\n]{2,80}?)\s*\)")
_WORD = re.compile(r"[^\s()\[\]\"“”,;:]+")
_SHORT = re.compile(r"^[A-Z][A-Za-z0-9&.\-]{1,11}$")


def acronym_key(name: str) -> str:
    """ "U.N." and "UN", "Nato" and "NATO", "NGOs" and "NGO" compare equal under this key."""
    key = re.sub(r"[.\s]", "", name)
    if len(key) > 2 and key.endswith("s") and key[:-1].isupper():
        key = key[:-1]
    return key.upper()


def _letters(short: str) -> str:
    """The letters an acronym's long form must supply, in order."""
    key = short[:-1] if len(short) > 2 and short.endswith("s") and short[:-1].isupper() else short
    capitals = [c for c in key if c.isupper() or c.isdigit()]
    if sum(c.isupper() for c in capitals) >= 2:
        return "".join(capitals)
    return "".join(c for c in key.upper() if c.isalnum())


def _word_letters(word: str) -> str:
    """Letters a word can give to an acronym: initials of its hyphenated parts and inner capitals."""
    out = []
    for part in re.split(r"[-\u2013/]", word):
        part = part.strip("'’.")
        if not part:
            continue
        out.append(part[0].upper())
        out.extend(c for c in part[1:] if c.isupper())
    return "".join(out)


def match_long_form(short: str, words: list[str]) -> int | None:
    """Index into `words` where the long form of `short` starts, if the words end with one, else None.

    Tries word initials first ("Belt and Road Initiative" for BRI), then the Schwartz-Hearst character match
    ("Association of Southeast Asian Nations" for ASEAN).
    """
    letters = _letters(short)
    if len(letters) < 2:
        return None
    start = _match_initials(letters, words)
    if start is None:
        start = _match_characters(letters, words)
    # One ordinary word is not a long form: "Gazprom (GAZP)" is a ticker, not a definition.
    if start is None or (start == len(words) - 1 and len(_word_letters(words[-1])) < 2):
        return None
    return start


def match_initials(short: str, words: list[str]) -> bool:
    """Whether `words` spell `short` by their initials alone ("National Union of Journalists" for NUJ): the
    strict test, for acronyms that the text does not define."""
    letters = _letters(short)
    return len(letters) >= 2 and len(words) >= 2 and _match_initials(letters, words) == 0


def _match_initials(letters: str, words: list[str]) -> int | None:
    li = len(letters)
    wi = len(words) - 1
    while li > 0 and wi >= 0:
        word = words[wi]
        if word.lower() in _SKIP_WORDS:
            if li == len(letters):
                return None  # a long form does not end with "of"
            wi -= 1
            continue
        given = _word_letters(word)
        if not given or not word[0].isupper():
            return None
        if len(given) > 1 and letters[:li].endswith(given):
            li -= len(given)
        elif letters[li - 1] == given[0]:
            li -= 1
        else:
            return None
        wi -= 1
    return wi + 1 if li == 0 else None


def _match_characters(letters: str, words: list[str]) -> int | None:
    text = " ".join(words)
    s_idx = len(letters) - 1
    l_idx = len(text) - 1
    while s_idx >= 0:
        c = letters[s_idx].lower()
        while l_idx >= 0 and (text[l_idx].lower() != c or (s_idx == 0 and l_idx > 0 and text[l_idx - 1].isalnum())):
            l_idx -= 1
        if l_idx < 0:
            return None
        l_idx -= 1
        s_idx -= 1
    start_char = l_idx + 1
    # Which word does the first matched character open?
    pos = 0
    for i, word in enumerate(words):
        if pos == start_char:
            return i if word[:1].isupper() else None
        pos += len(word) + 1
    return None


def find_definitions(text: str) -> list[AcronymDefinition]:
    """Every "Long Form (LF)" and "LF (Long Form)" in `text`."""
    return list(_iter_definitions(text))


class _WordsBefore:
    """The words of a line before a position (as `_WORD.finditer(text, line start, position)` finds them), the
    text's words and line breaks found once: scanning each parenthesis's line from its start cost a one-line text
    its length once a parenthesis, quadratic. No word spans a line break or starts a parenthesis, so the words
    of the whole text, cut at the line's start and the position, are the same."""

    def __init__(self, text: str) -> None:
        self.words = [(w.group(), w.start()) for w in _WORD.finditer(text)]
        self.starts = [start for _, start in self.words]
        self.breaks = LineBreaks(text)

    def last(self, position: int, count: int) -> list[tuple[str, int]]:
        """The last `count` words (word, start) of the line before `position`."""
        _, line_start, _ = self.breaks.line_of(position)
        end = bisect.bisect_left(self.starts, position)
        first = max(bisect.bisect_left(self.starts, line_start), end - count)
        return self.words[first:end]


# A long form's words at the most: max_words below for the longest short form _SHORT takes (12 characters).
_MAX_LONG_WORDS = 24


def _iter_definitions(text: str) -> Iterator[AcronymDefinition]:
    words_before: _WordsBefore | None = None
    for m in _PAREN.finditer(text):
        inner = m.group(1)
        words_before = words_before or _WordsBefore(text)
        before = words_before.last(m.start(), _MAX_LONG_WORDS)
        if _SHORT.match(inner) and before:
            max_words = min(len(_letters(inner)) + 5, 2 * len(_letters(inner)))
            window = before[-max_words:]
            words = [w for w, _ in window]
            # Trailing punctuation on the last word ("Post,") would break the match.
            words[-1] = words[-1].rstrip(".,;:")
            start = match_long_form(inner, words)
            if start is not None:
                long_start = window[start][1]
                long_end = window[-1][1] + len(words[-1])
                yield AcronymDefinition(
                    short=inner,
                    long=text[long_start:long_end],
                    long_start=long_start,
                    long_end=long_end,
                    paren_start=m.start(),
                    paren_end=m.end(),
                )
        elif " " in inner and before:
            # Reverse order: "NATO (North Atlantic Treaty Organization)".
            short, short_start = before[-1]
            short = short.rstrip(".,;:") if not short.endswith(".") or short.count(".") < 2 else short
            if not _SHORT.match(short) or sum(c.isupper() for c in short) < 2:
                continue
            words = inner.split()
            if match_long_form(short, words) == 0:
                inner_start = m.start() + m.group(0).index(inner)
                yield AcronymDefinition(
                    short=short,
                    long=inner,
                    long_start=inner_start,
                    long_end=inner_start + len(inner),
                    paren_start=short_start,
                    paren_end=short_start + len(short),
                )


def known_long_form(name: str) -> str | None:
    """The canonical long form of a well-known acronym ("NATO", "Nato", "U.N.") or long form, else None."""
    bare = name.replace(".", "")
    if bare.isupper() or (len(bare) >= 4 and bare[0].isupper() and bare[1:].islower()):
        known = KNOWN_ACRONYMS.get(acronym_key(name))
        if known is not None:
            return known
    return _KNOWN_LONG_VARIANTS.get(" ".join(name.split()).lower())
