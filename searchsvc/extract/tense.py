"""Which way in time a date expression points, from the clause it sits in.

"announced Thursday" is the Thursday before publication, "will visit China on Monday" the Monday after. The
clause is found through the dependency parse: from the date span up its heads to the first verb, then that
verb's auxiliaries decide (spaCy's Penn tags: "will"/"'ll" as MD -> future, VBD -> past). Input is plain
data (Token), so this runs and is tested without a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .dates import Tense

_VERB_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD"})
_FUTURE_WORDS = frozenset({"will", "'ll", "’ll", "shall", "wo"})
_PERFECT = frozenset({"has", "have", "'ve", "’ve", "hath"})
# Participles and adjectives that make a present-tense clause a schedule: "is scheduled for", "is due on".
_SCHEDULE_WORDS = frozenset("scheduled expected set due slated planned poised".split())
_PRESENT_BE = frozenset({"is", "are", "am", "'s", "’s", "'re", "’re"})
# A past clause does not make these dates past: "was extended to October 31", "ran until March".
_FORWARD_PREPOSITIONS = frozenset({"to", "until", "till", "through", "into"})
_MAX_STEPS = 12


@dataclass(frozen=True)
class Token:
    """One token of a parsed sentence: `head` indexes the same sequence (a root is its own head)."""

    text: str
    tag: str
    dep: str
    head: int


def infer_tense(tokens: Sequence[Token], start: int, end: int) -> Tense | None:
    """The tense of the clause governing tokens[start:end], or None when the parse does not say."""
    if not 0 <= start < end <= len(tokens):
        return None
    verb = _verb_above(tokens, _span_root(tokens, start, end), skip_self=True)
    if verb is None:
        return None
    tense = _verb_tense(tokens, verb, 0)
    if tense == "past" and _after_forward_preposition(tokens, start, end):
        return None  # "the deadline was extended to October 31": the action is past, the date need not be
    return tense


def _span_root(tokens: Sequence[Token], start: int, end: int) -> int:
    return next((i for i in range(start, end) if not start <= tokens[i].head < end), start)


def _verb_above(tokens: Sequence[Token], i: int, skip_self: bool = False) -> int | None:
    """The first verb from token i up its heads (from its head when skip_self)."""
    if skip_self:
        if tokens[i].head == i:
            return None
        i = tokens[i].head
    for _ in range(_MAX_STEPS):
        if tokens[i].tag in _VERB_TAGS:
            return i
        if tokens[i].head == i:
            return None
        i = tokens[i].head
    return None


def _after_forward_preposition(tokens: Sequence[Token], start: int, end: int) -> bool:
    head = tokens[_span_root(tokens, start, end)].head
    return not start <= head < end and tokens[head].text.lower() in _FORWARD_PREPOSITIONS


def _verb_tense(tokens: Sequence[Token], v: int, depth: int) -> Tense | None:
    verb = tokens[v]
    aux = [t for i, t in enumerate(tokens) if t.head == v and i != v and t.dep in ("aux", "auxpass")]
    words = {t.text.lower() for t in aux}
    if verb.text.lower() in _FUTURE_WORDS or words & _FUTURE_WORDS:
        return "future"
    modals = {t.text.lower() for t in aux if t.tag == "MD"}
    if modals:
        if words & _PERFECT:
            return "past"  # "could have happened on Monday"
        # "would" is mostly reported speech, whose time is the reporting verb's: no direction of its own.
        return None if modals & {"would", "'d", "’d"} else "future"  # could, may, might, should, must, can
    if verb.tag == "VBD" or any(t.tag == "VBD" for t in aux):
        return "past"
    if verb.tag == "VBN" and words & _PERFECT and not any(t.tag == "VBD" for t in aux):
        # Present perfect takes no date of its own ("has signed on Monday" is not English), so a date in
        # its clause belongs to something else: "May has promised a vote in early June".
        return None
    if verb.tag == "VBN" and not aux and verb.dep != "conj":
        return "past"  # "the report, published Tuesday"
    if verb.tag in ("VBZ", "VBP") or any(t.tag in ("VBZ", "VBP") for t in aux):
        return "future" if _is_arrangement(tokens, v, words) else "present"
    # No finite verb of its own: an infinitive, gerund or participle takes its time from the verb it depends
    # on ("will start charging drivers to enter the city from 28 November").
    if depth >= 4 or verb.head == v:
        return None
    above = _verb_above(tokens, verb.head)
    if above is None:
        return None
    governing = _verb_tense(tokens, above, depth + 1)
    if verb.tag == "VB" and "to" in words:
        # "is to visit", "plans to visit": a plan; "agreed to meet": the meeting may be past or future.
        return "future" if governing in ("present", "future") else None
    return governing


def _is_arrangement(tokens: Sequence[Token], v: int, aux_words: set[str]) -> bool:
    """Present tense that in news announces a plan: "is visiting on Monday", "is scheduled for", "is due"."""
    verb = tokens[v]
    if aux_words & _PRESENT_BE and verb.tag == "VBG":
        return True
    if verb.tag == "VBN" and verb.text.lower() in _SCHEDULE_WORDS:
        return True
    children = (t for t in tokens if t.head == v and t is not verb and t.dep in ("acomp", "attr", "oprd"))
    return verb.text.lower() in _PRESENT_BE and any(t.text.lower() in _SCHEDULE_WORDS for t in children)


# A sentence ends at ., ! or ? (maybe closed by a quote or bracket) before a capital, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n+")
# ... but not after an abbreviation such as "U.S.", "Mr." or "Jan.".
_ABBREVIATION = re.compile(
    r"(?:\b[A-Za-z]|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Gen|Sen|Rep|Gov|Jr|Sr|No|Inc|Co|Corp|Ltd|vs|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec))\.[\"'”’)\]]*$"
)


def _is_boundary(text: str, m: re.Match[str]) -> bool:
    return "\n" in m.group() or not _ABBREVIATION.search(text[max(0, m.start() - 8) : m.start()])


def sentence_bounds(text: str, start: int, end: int, limit: int = 400) -> tuple[int, int]:
    """Character bounds of the sentence around text[start:end], at most `limit` characters each side.

    A cheap stand-in for a sentence splitter: only the clause around a date is parsed, and a split that is
    a little off only costs context, so a model-free rule is good enough and saves a pipeline component.
    """
    left = max(0, start - limit)
    for m in _SENTENCE_END.finditer(text, left, start):
        if _is_boundary(text, m):
            left = m.end()
    right = min(len(text), end + limit)
    for m in _SENTENCE_END.finditer(text, end, right):
        if _is_boundary(text, m):
            right = m.start()
            break
    return left, right
