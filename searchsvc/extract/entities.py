"""From the named-entity mentions of one document to its entities: one canonical name, one type, a count.

Input is plain data (RawMention: text, spaCy label, character offsets), so every rule here is testable without
a model. The rules, in the order they apply:

0. News conventions (news.py): a dateline's place is a place, the document's own wire is no mention, text in
   capitals and rows of figures give no names, a name cut at a comma is completed or dropped.
1. Clean each mention (names.clean_name): edges, "the", possessives, titles. Only PERSON, ORG, GPE and LOC
   mentions become entities; the others (FAC, NORP, ...) only serve as evidence for rule 5. A span listing
   names ("Gazprom and Rosneft") is split when each part is a country or is mentioned on its own.
2. Countries get their canonical name and are places (places.canonical_country).
3. Acronyms: "Long Form (LF)" defined in the text makes "LF" and "Long Form" one entity named by the long
   form; a few well-known acronyms always map to their long form (acronyms.KNOWN_ACRONYMS). An acronym
   with no definition joins the one multi-word organisation of the document whose initials spell it.
4. People: a mention that a role introduces ("Dr. Nadia Petrova", "the defence secretary, Helen Carver")
   is a person whatever spaCy labelled it; a lone unresolved person right after "in"/"near" is a place.
   A one-word mention that is a word of exactly one multi-word PERSON name of the document is that
   person, whatever spaCy labelled it ("Lavrov" as ORG -> Sergey Lavrov; "Wang" -> Wang Yi: any word, not
   just the last, since Chinese names put the family name first), unless the document tags the word a place
   more often than it writes that name ("Brixton" beside "Brixton Market"). A one-word person that is a
   word of two people of the document ("Yang" beside "Yang Jin" and "Yang Chuang") is dropped: it cannot be told apart.
5. Junk goes: weekdays, months, numbers, single letters; a one-word mention whose capital only comes from
   opening a sentence, when the text also has the word in lower case ("Freezing"), or from starting a
   hyphenated adjective ("State-owned"); a one-word PERSON that no full name vouches for when it is a word
   of a longer phrase joined by "and"/"of" elsewhere in the document ("Belt" of "Belt and Road"); a one-word
   name that spaCy tags at least as often as something we do not keep (NORP, EVENT, ...): "Welsh".
6. Organisations: a mention that is the tail of exactly one longer organisation name of the document is that
   organisation ("Foreign Ministry" -> "Chinese Foreign Ministry"); so is a lone word that starts exactly one
   ("Kuroda's" -> "Kuroda Motors", whatever spaCy labelled it, unless a title makes it a person).
7. One type per name, by majority of its mentions (ties: place, then org, then person); a lone word that
   spaCy also tagged a place, with no full name or title making it a person, is a place ("Bedhampton").
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .acronyms import AcronymDefinition, acronym_key, find_definitions, known_long_form, match_initials
from .names import (
    ORG_HEADS,
    PERSONAL_TITLES,
    clean_name,
    has_personal_title,
    is_acronym,
    is_calendar_word,
    is_junk,
    strip_edges,
    title_before,
)
from .news import apply_conventions
from .places import canonical_country
from .types import Entity, EntityType, RawMention

LABEL_TYPES: dict[str, EntityType] = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place"}

# Words spaCy labels PERSON that are never a person on their own (kept small: rule 5 does the general work).
PERSON_STOPLIST = frozenset("brexit covid coronavirus christmas easter ramadan internet web god".split())

_CONNECTORS = frozenset("and & of for".split())
# "Secretary of State", "Minister of Finance": the word after "of" is part of the title, not an entity.
_OFFICES = frozenset("secretary secretaries minister ministers ministry chancellor department".split())
# "the island of Jeju", "the state of Illinois": what follows is a place.
_PLACE_NOUNS = frozenset(
    "city town village island islands state province region county district port capital republic "
    "kingdom emirate territory".split()
)
_TIE_ORDER: dict[EntityType, int] = {"place": 0, "org": 1, "person": 2}


@dataclass
class _Working:
    name: str
    type: EntityType
    start: int
    end: int
    surface: str = ""  # the cleaned mention as written ("Lavrov"), kept as an alias of the final name
    settled: bool = False  # a country or an acronym: name no longer changes
    long_form: bool = False  # the long form of an acronym, whose type wins
    titled: bool = False  # written with a personal title ("Mrs May"): a person even if it looks like a month


def resolve_entities(mentions: Iterable[RawMention], text: str = "") -> tuple[Entity, ...]:
    """The entities of one document, sorted by (type, name), from its mentions and its text."""
    mentions = apply_conventions(mentions, text)
    definitions = find_definitions(text) if text else []
    short_alias: dict[str, str] = {}
    long_alias: dict[str, str] = {}
    phrases: list[list[str]] = []
    for d in definitions:
        long = strip_edges(d.long)
        if not long:
            continue
        canonical = known_long_form(d.short) or known_long_form(long) or long
        short_alias[acronym_key(d.short)] = canonical
        long_alias[long.lower()] = canonical
        phrases.append(long.split())

    defining_parenthesis = _DefiningParentheses(definitions, mentions)
    cleaned = [(m, *clean_name(m.text, m.label)) for m in mentions]
    seen_names = Counter(name for _, name, _ in cleaned if name)
    # Votes of mentions that spaCy labelled as no kind of entity we keep: "Welsh" as NORP three times.
    not_entity = Counter(name for _, name, label in cleaned if name and label not in LABEL_TYPES)
    work: list[_Working] = []
    for m, name, label in cleaned:
        if not name:
            continue
        titled = label == "PERSON" and has_personal_title(m.text)
        if label in LABEL_TYPES and label != "PERSON" and _introduced_as_person(name, m, text):
            label, titled = "PERSON", True
        if label != "PERSON" and len(name.split()) > 1:
            phrases.append(name.split())
        if label not in LABEL_TYPES or defining_parenthesis(m):
            continue
        for part_name, part in _split_enumeration(name, m, seen_names):
            w = _classify(part_name, label, part, short_alias, long_alias)
            w.titled = titled
            w.surface = part_name
            work.append(w)

    _retype_by_context(work, text)
    _resolve_people(work)
    evidence = _Evidence(phrases, text, not_entity, Counter(w.name for w in work if not w.settled))
    work = [w for w in work if not _is_junk_mention(w, evidence)]
    _resolve_undefined_acronyms(work)
    _resolve_organisations(work)
    return _collect(work)


def _introduced_as_person(name: str, m: RawMention, text: str) -> bool:
    """ "Dr. Nadia Petrova", "the defence secretary, Helen Carver" tagged ORG: the role makes them people."""
    if m.start < 0 or not text or canonical_country(name) is not None:
        return False
    words = name.split()
    if not 1 <= len(words) <= 3 or not all(w[:1].isupper() for w in words) or is_acronym(name):
        return False
    if words[-1].lower() in ORG_HEADS:
        return False
    if len(words) == 1:  # a lone word needs a personal title right before it: "President Biden"
        before = text[max(0, m.start - 20) : m.start].split()
        return bool(before) and before[-1].lower().rstrip(".") in PERSONAL_TITLES
    return title_before(text, m.start)


_ENUMERATION = re.compile(r"(?<!\s)\s*+(?:,|\band\b|&)\s*")  # from a run's start: linear


def _split_enumeration(name: str, m: RawMention, seen: Counter[str]) -> list[tuple[str, RawMention]]:
    """ "Gazprom and Rosneft" or "Czech Republic, South Africa" as one span: split when every part is a
    country or a name the document mentions on its own ("Marks and Spencer" stays whole)."""
    parts = _ENUMERATION.split(name)
    if len(parts) < 2 or canonical_country(name) is not None:
        return [(name, m)]
    if not all(p and (canonical_country(p) is not None or seen[p] > 0) for p in parts):
        return [(name, m)]
    out = []
    cursor = 0
    for p in parts:
        at = m.text.find(p, cursor)
        if at < 0 or m.start < 0:
            out.append((p, RawMention(p, m.label)))
            continue
        cursor = at + len(p)
        out.append((p, RawMention(p, m.label, m.start + at, m.start + cursor)))
    return out


class _DefiningParentheses:
    """Which mentions are the "(NATO)" right after a tagged "North Atlantic Treaty Organization": not a second
    mention. Definitions and mentions are indexed by where they start, so a mention costs a few lookups, not a pass
    over every definition and mention (a text of thousands of definitions was quadratic)."""

    def __init__(self, definitions: Sequence[AcronymDefinition], mentions: Sequence[RawMention]) -> None:
        self.definitions = sorted(definitions, key=lambda d: d.paren_start)
        self.paren_starts = [d.paren_start for d in self.definitions]
        self.order = {id(d): i for i, d in enumerate(definitions)}  # the first definition holding a mention wins
        self.widest = max((d.paren_end - d.paren_start for d in definitions), default=0)
        placed = sorted((o for o in mentions if o.start >= 0), key=lambda o: o.start)
        self.mentions = placed
        self.starts = [o.start for o in placed]
        self.longest = max((o.end - o.start for o in placed), default=0)

    def __call__(self, m: RawMention) -> bool:
        if m.start < 0:
            return False
        holding = None
        i = bisect.bisect_right(self.paren_starts, m.start)  # those starting at or before the mention
        while i > 0 and self.paren_starts[i - 1] >= m.start - self.widest:
            i -= 1
            d = self.definitions[i]
            if m.end <= d.paren_end and (holding is None or self.order[id(d)] < self.order[id(holding)]):
                holding = d
        if holding is None:
            return False
        # Another mention overlapping the long form starts before its end and within `longest` before its start.
        lo = bisect.bisect_right(self.starts, holding.long_start - self.longest)
        hi = bisect.bisect_left(self.starts, holding.long_end)
        return any(holding.long_start < o.end for o in self.mentions[lo:hi] if o is not m)


def _classify(
    name: str, label: str, m: RawMention, short_alias: dict[str, str], long_alias: dict[str, str]
) -> _Working:
    mtype = LABEL_TYPES[label]
    words = name.split()
    if mtype == "place" and words[-1].lower() in ORG_HEADS:
        mtype = "org"
    elif mtype == "org" and len(words) > 2 and words[0].lower() in _PLACE_NOUNS and words[1] == "of":
        mtype = "place" if words[-1].lower() not in ORG_HEADS else mtype  # "the Island of Divar" tagged ORG
    if mtype == "person" and is_acronym(name):
        # "BRI" tagged PERSON: people are not written in capitals; "H5N1" (a strain, a model) is no name at all
        mtype = "org" if sum(c.isdigit() for c in name) < 2 else mtype
        if mtype == "person":
            return _Working("", mtype, m.start, m.end)
    if label != "PERSON":
        country = canonical_country(name)
        if country is not None:
            return _Working(country, "place", m.start, m.end, settled=True)
    canonical = long_alias.get(name.lower())
    if canonical is not None:
        return _Working(canonical, mtype, m.start, m.end, settled=True, long_form=True)
    if " " not in name:
        canonical = short_alias.get(acronym_key(name))
        if canonical is not None:
            return _Working(canonical, mtype, m.start, m.end, settled=True)
    if label != "PERSON" or is_acronym(name):
        known = known_long_form(name)
        if known is not None:
            return _Working(known, mtype, m.start, m.end, settled=True, long_form=" " in name)
    return _Working(name, mtype, m.start, m.end)


def _resolve_people(work: list[_Working]) -> None:
    """Rule 4: a one-word mention naming exactly one multi-word person of the document becomes that person,
    unless the document calls the word a place more often than it names that person ("Brixton" twice beside
    one "Brixton Market" tagged PERSON)."""
    by_word: dict[str, set[str]] = defaultdict(set)
    written = Counter(w.name for w in work)
    as_place = Counter(w.name for w in work if w.type == "place" and not w.settled)
    for w in work:
        if w.type == "person" and not w.settled and len(w.name.split()) > 1:
            for word in w.name.split():
                if len(word) > 1 and word[0].isupper():
                    by_word[word].add(w.name)
    for w in work:
        if w.settled or " " in w.name:
            continue
        people = by_word.get(w.name, set())
        if len(people) == 1 and as_place[w.name] <= written[next(iter(people))]:
            w.name = next(iter(people))
            w.type = "person"
            w.settled = True
        elif len(people) > 1 and w.type == "person" and not w.titled:
            w.name = ""  # "Yang" beside "Yang Jin" and "Yang Chuang": which one is unknowable; dropped
    work[:] = [w for w in work if w.name]


_LOCATIVE = re.compile(r"(?:^|\s)(?:in|near)\s+$")
_PLACE_OF = re.compile(r"(\w+)\s+of\s+$")


def _retype_by_context(work: list[_Working], text: str) -> None:
    """Fix spaCy's type from what the document says around a mention.

    A lone unresolved "person" right after "in", "near" or "the island of" is a place ("will meet on Monday
    in Darwin"), and so is whatever is "X-based"; a two- or three-word "organisation" whose last word the
    document uses alone for a person is that person ("Britain's Ellie Marsh won ... Marsh, who rides").
    """
    lone_votes: Counter[str] = Counter()  # a lone word's person mentions minus its other ones ("Perth": GPE)
    for w in work:
        if " " not in w.name and not w.settled:
            lone_votes[w.name] += 1 if w.type == "person" else -1
    lone_people = {name for name, votes in lone_votes.items() if votes > 0}
    for w in work:
        if w.settled:
            continue
        if text and 0 <= w.end and text.startswith(("-based", "\u2013based"), w.end):
            w.type = "place"  # "the Oslo-based company"
            continue
        words = w.name.split()
        if w.type == "person" and len(words) == 1 and not w.titled and w.start > 0 and text:
            if _LOCATIVE.search(text, max(0, w.start - 8), w.start):
                w.type = "place"
            else:
                place_of = _PLACE_OF.search(text, max(0, w.start - 20), w.start)
                if place_of and place_of.group(1).lower() in _PLACE_NOUNS:
                    w.type = "place"
        elif (
            w.type in ("org", "place")
            and 2 <= len(words) <= 3
            and words[-1] in lone_people
            and all(x[:1].isupper() for x in words)
            and words[-1].lower() not in ORG_HEADS
        ):
            w.type = "person"


class _Evidence:
    """What the whole document says about single words, computed once per document."""

    def __init__(self, phrases: list[list[str]], text: str, not_entity: Counter[str], kept: Counter[str]) -> None:
        self.text = text
        self.not_entity = not_entity
        self.kept = kept
        # Words next to "and"/"of" inside a longer name: "Belt" and "Road" of "Belt and Road".
        self.phrase_words = {
            word
            for words in phrases
            if len(words) > 1
            for i, word in enumerate(words)
            if any(n.lower() in _CONNECTORS for n in words[max(0, i - 1) : i] + words[i + 1 : i + 2])
        }
        self._lower_words: set[str] | None = None

    def in_lower_case(self, word: str) -> bool:
        """Whether the text also uses `word` in lower case, as a common word."""
        if self._lower_words is None:
            words = re.findall(r"(?<![\w-])\w[\w']*", self.text)
            self._lower_words = {w for w in words if w[0].islower()}
        return word.lower() in self._lower_words


def _is_junk_mention(w: _Working, evidence: _Evidence) -> bool:
    """Rule 5, for one mention (after rule 4, so that "May" of Theresa May is no longer a month)."""
    if w.settled:
        return False
    if w.titled and w.type == "person":  # "Mrs May": the title vouches for the name, even a month's
        return is_junk(w.name) and not is_calendar_word(w.name)
    if is_junk(w.name):
        return True
    if " " in w.name:
        return False
    if evidence.not_entity[w.name] > 0 and evidence.not_entity[w.name] >= evidence.kept[w.name]:
        return True  # mostly tagged as a nationality, event or work elsewhere in the document
    text = evidence.text
    if w.start >= 0 and text:
        title_of = re.search(r"(\w+)\s+of\s+(?:the\s+)?$", text[max(0, w.start - 30) : w.start])
        if title_of and title_of.group(1).lower() in _OFFICES:
            return True  # "State" of "Secretary of State": part of a title
        if w.type != "place" and 0 <= w.end < len(text) - 1 and text[w.end] == "-" and text[w.end + 1].islower():
            return True  # "State" of "State-owned": the first half of a hyphenated adjective
        before = text[: w.start].rstrip(" \t\"'“‘(")
        if (not before or before[-1] in "\n.!?:") and evidence.in_lower_case(w.name):
            return True  # "Freezing weather hit": capitalised only because it opens a sentence
    if w.type != "person":
        return False
    return w.name.lower() in PERSON_STOPLIST or w.name in evidence.phrase_words


def _resolve_undefined_acronyms(work: list[_Working]) -> None:
    """ "NUJ" with no definition is the document's "National Union of Journalists" when that is the only
    multi-word organisation whose initials spell it."""
    long_names = {w.name for w in work if w.type == "org" and len(w.name.split()) > 1}
    found: dict[str, set[str]] = {}
    for w in work:
        if w.settled or not is_acronym(w.name) or w.type == "person":
            continue
        if w.name not in found:
            short = w.name.replace(".", "")
            found[w.name] = {n for n in long_names if match_initials(short, n.split())}
        matches = found[w.name]
        if len(matches) == 1:
            w.name = next(iter(matches))
            w.type = "org"
            w.settled = True


def _resolve_organisations(work: list[_Working]) -> None:
    """Rule 6: "Foreign Ministry" is the "Chinese Foreign Ministry" when that is the only org ending so, and
    "Kuroda" (or "Kuroda's", often tagged PERSON) is "Kuroda Motors" when that is the only org starting so."""
    by_tail: dict[tuple[str, ...], set[str]] = defaultdict(set)
    by_head: dict[str, set[str]] = defaultdict(set)
    for name in {w.name for w in work if w.type == "org" and " " in w.name}:
        words = tuple(name.split())
        by_head[words[0]].add(name)
        for k in range(1, len(words)):
            by_tail[words[k:]].add(name)
    for w in work:
        if w.settled or is_acronym(w.name):
            continue
        if w.type == "org":
            longer = by_tail.get(tuple(w.name.split()), set())
            if len(longer) == 1:
                w.name = next(iter(longer))
                continue
        if w.type in ("org", "person") and not w.titled and " " not in w.name:
            longer = by_head.get(w.name, set())
            if len(longer) == 1:
                w.name = next(iter(longer))
                w.type = "org"


def _collect(work: list[_Working]) -> tuple[Entity, ...]:
    """Rule 7 and counting."""
    votes: dict[str, Counter[EntityType]] = defaultdict(Counter)
    long_votes: dict[str, Counter[EntityType]] = defaultdict(Counter)
    counts: Counter[str] = Counter()
    titled: set[str] = {w.name for w in work if w.titled}
    aliases: dict[str, dict[str, None]] = defaultdict(dict)  # name -> surfaces, in order (an ordered set)
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for w in work:
        counts[w.name] += 1
        votes[w.name][w.type] += 1
        if w.long_form:
            long_votes[w.name][w.type] += 1
        aliases[w.name][w.surface or w.name] = None
        if w.start >= 0:
            spans[w.name].append((w.start, w.end))
    entities = []
    for name, count in counts.items():
        ballot = long_votes[name] or votes[name]
        etype = min(ballot, key=lambda t: (-ballot[t], _TIE_ORDER[t]))
        if etype == "person" and ballot["place"] and " " not in name and name not in titled:
            etype = "place"  # a lone word also tagged a place, which no full name or title makes a person
        entities.append(
            Entity(
                name=name, type=etype, mentions=count, aliases=tuple(aliases[name]), spans=tuple(sorted(spans[name]))
            )
        )
    entities.sort(key=lambda e: (e.type, e.name))
    return tuple(entities)
