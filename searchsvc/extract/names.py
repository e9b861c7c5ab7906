"""Cleaning of one entity mention's text, before any document-level resolution.

spaCy's spans carry what surrounds a name in running text: "the", a possessive ("Putin’s"), quotes, and
for people a title ("Russian Foreign Minister Sergey Lavrov"). The index wants the bare name, so that every
mention of one thing yields the same string. These functions are pure and need no model.
"""

from __future__ import annotations

import functools
import re

# Full names only (and unambiguous short forms): "Sun", "Sat" or "Jan" may well be names.
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday tues thurs".split())
MONTHS = frozenset("january february march april may june july august september october november december sept".split())

# Words that, at the start of a person's mention, are a title or role rather than part of the name.
# Multi-word titles ("Foreign Minister", "Secretary of State") are covered word by word.
TITLE_WORDS = frozenset(
    """
    president vice prime foreign finance defence defense interior trade economy health education justice
    home deputy minister ministers secretary of state general attorney chancellor king queen prince princess
    crown pope cardinal archbishop bishop rev reverend sen senator rep representative congressman
    congresswoman gov governor mayor mr mrs ms miss mx dr prof professor sir dame lord lady baroness baron
    gen col lt capt captain colonel major sgt admiral commander chairman chairwoman chair chief executive ceo
    cfo coo founder judge ambassador premier speaker sheikh emir sultan envoy commissioner director
    spokesman spokeswoman former ex late acting then dictator leader president-elect officer medical
    district circuit supreme high court senior associate assistant managing
    coach manager quarterback striker goalkeeper midfielder defender winger pitcher skipper
    """.split()
)

# Titles that, before a name, make the mention a person whatever spaCy labelled it ("Mr Ebbers" as ORG).
PERSONAL_TITLES = frozenset(
    "mr mrs ms miss mx dr president senator sen rep congressman congresswoman gov governor mayor "
    "sir dame lord lady pope king queen prince princess sheikh emir sultan premier chancellor".split()
)

# Names whose "'s" belongs to the name and is not a possessive (apostrophes normalised to "'").
POSSESSIVE_NAMES = frozenset(
    "McDonald's|Moody's|Sainsbury's|Standard & Poor's|Lloyd's|Macy's|Kellogg's|Wendy's|Denny's|Kohl's|"
    "Dillard's|Ben & Jerry's|Domino's|Sotheby's|Christie's|Claire's|Levi's|Harrod's|Hershey's|Nando's|"
    "Lowe's|St John's".split("|")
)

# Words that end an amount of money, not a name ("U.S. Dlrs", "N.Z. Dlrs", "DLRS", "Revs"), and the legal forms
# of a company, which are no name on their own ("Co", "Co Inc").
CURRENCY_WORDS = frozenset(
    "dlr dlrs dollar dollars yen marks mark francs franc pounds stg sterling lire lira pesos peso rupees rupee "
    "rand ecus ecu cts pct revs avg shr shrs".split()
)
LEGAL_FORMS = frozenset("co cos inc corp ltd plc llc sa ag nv bv spa gmbh kk pty".split())

# Last words that make a name an institution ("the South China Morning Post" tagged LOC, "Bishop Garrigan High
# School" tagged PERSON) or a place ("former King County", "the Russian Empire"): no title is read in it.
ORG_HEADS = frozenset(
    """
    post times journal news herald tribune gazette telegraph review daily weekly magazine press agency
    ministry department organization organisation institute institution university college school bank
    company corporation corp corp. inc inc. ltd ltd. plc llc group party council committee commission
    association fund foundation academy society bureau authority administration exchange airlines airways
    reserve board federation league club network television radio broadcasting
    """.split()
)
PLACE_HEADS = frozenset("county empire union republic kingdom province street avenue island islands".split())
# Words of TITLE_WORDS that only qualify a role ("former", "acting"): before a name they introduce no person
# ("the former Soviet Union", "former King County").
TITLE_MODIFIERS = frozenset(
    """
    former ex late acting then vice deputy prime foreign finance defence defense interior trade economy health
    education justice home general of state district circuit supreme high court senior associate assistant
    managing medical chief executive crown
    """.split()
)

_APOSTROPHES = "'\u2019\u2018`\u00b4"
_EDGE_PUNCT = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb\u201e()[]{}<>,;:!?*\u2013\u2014-/\\|#@~ \t\r\n"
_POSSESSIVE = re.compile(rf"(?:[{_APOSTROPHES}]s|(?<=s)[{_APOSTROPHES}])$")
_LEADING_THE = re.compile(r"^(?:the|The|THE|a|an)\s+")
_TRAILING_CONNECTOR = re.compile(r"(?<!\s)\s++(?:and|or|of|the|&)$")  # from a run's start: linear
_TRAILING_SCORE = re.compile(r"(?<!\s)\s++\d++[-\u2013:]\d++$")  # "Nottingham Forest 2-0" (but "Radio 4" stays)
_NATIONALITY = re.compile(r"^[A-Z][a-z]+(?:an|ese|ish|ian|ic|i|ch)$")
_NUMERIC = re.compile(r"^[\d\s.,:/%$£€¥+\-–]+(?:bn|m|k|st|nd|rd|th|s)?$")
_ACRONYM = re.compile(r"^(?:[A-Z]\.?){2,}$|^[A-Z][A-Z0-9&.\-]*[A-Z0-9]$")


_ANY_APOSTROPHE = re.compile(f"[{_APOSTROPHES}]")


def normalise_apostrophes(text: str) -> str:
    """Curly and straight apostrophes compare equal after this."""
    return _ANY_APOSTROPHE.sub("'", text)


def strip_possessive(text: str) -> str:
    """ "Putin's" -> "Putin", "Moscow’s" -> "Moscow", "Reuters'" -> "Reuters"; "McDonald's" is kept."""
    if normalise_apostrophes(text) in POSSESSIVE_NAMES:
        return normalise_apostrophes(text)
    return _POSSESSIVE.sub("", text).rstrip()


def drop_open_paren(text: str) -> str:
    """Drop an unclosed "(" and what follows it, with the spaces before it: "World Health Organization (WHO" ->
    "World Health Organization". The first "(" after the last ")": found in linear time, where the regex
    `\\s*\\([^)]*$` tried every "(" and scanned to the ")" from each, quadratic on "((((...)"."""
    opening = text.find("(", text.rfind(")") + 1)
    return text if opening < 0 else text[:opening].rstrip()


# Longer than any name: the longest of the 115,000 names of ../shared/data's GMB and WikiGold is 79 characters.
MAX_NAME_CHARS = 200


@functools.lru_cache(maxsize=65536)
def strip_edges(text: str) -> str:
    """Drop quotes, brackets and punctuation around a name (a final "." is kept: it may close "U.S.").

    A text over MAX_NAME_CHARS is no name and comes back empty (a junk name): the rules below each take off one
    word a pass, so "The The The ... Bank" (a 20 KB mention) took 3 s, quadratic in its length."""
    text = " ".join(text.split())
    if len(text) > MAX_NAME_CHARS:
        return ""
    previous = None
    while previous != text:
        previous = text
        text = drop_open_paren(text)
        text = text.strip(_EDGE_PUNCT)
        text = strip_possessive(text)
        text = _TRAILING_SCORE.sub("", text) if re.search(r"[A-Za-z]", text) else text
        text = _LEADING_THE.sub("", text)
        text = _TRAILING_CONNECTOR.sub("", text)
    # A sentence-final "." is not part of a name unless the name is an abbreviation ("U.S.", "Inc.", "Jr.").
    if text.endswith(".") and re.search(r"(?:^|[\s.])[A-Za-z]{4,}\.$", text) and not text.endswith(".."):
        text = text[:-1]
    return text


def strip_titles(name: str) -> tuple[str, bool]:
    """Remove leading titles and roles from a person's name; also say whether a personal title was seen.

    "Russian Foreign Minister Sergey Lavrov" -> ("Sergey Lavrov", False), "Mr. Putin" -> ("Putin", True).
    A name made only of title words ("Prince") is returned unchanged.
    """
    tokens = name.split()
    personal = False
    i = 0
    # A nationality adjective in front of a title belongs to the title ("Russian Foreign Minister").
    if len(tokens) > 2 and _NATIONALITY.match(tokens[0]) and _title_key(tokens[1]) in TITLE_WORDS:
        i = 1
    while i < len(tokens) - 1 and _title_key(tokens[i]) in TITLE_WORDS:
        personal = personal or _title_key(tokens[i]) in PERSONAL_TITLES
        i += 1
    if i == 0 or i >= len(tokens):
        return name, False
    return " ".join(tokens[i:]), personal


def _title_key(token: str) -> str:
    return token.lower().rstrip(".").lstrip("(")


@functools.lru_cache(maxsize=65536)
def is_junk(name: str) -> bool:
    """Names that are never a person, organisation or place: weekdays, months, numbers, single letters,
    amounts of money and figures' labels ("U.S. Dlrs", "Avg"), a company's legal form alone ("Co Inc")."""
    if not name:
        return True
    letters = [c for c in name if c.isalpha()]
    if not letters or (len(letters) == 1 and not any(c.isdigit() for c in name)):
        return True
    if is_calendar_word(name):
        return True
    if _NUMERIC.match(name):
        return True
    words = [w.lower().strip(".,") for w in name.split()]
    if words[-1] in CURRENCY_WORDS or all(w in LEGAL_FORMS for w in words):
        return True  # an amount or a legal form alone
    # A proper name has a capital somewhere; "bitcoin" or "the company" tagged as ORG do not.
    cased = [c for c in letters if c.lower() != c.upper()]
    return bool(cased) and not any(c.isupper() for c in cased)


def is_calendar_word(name: str) -> bool:
    """ "Monday", "Fridays", "March", "Sept.": spaCy often tags these as people or organisations."""
    key = name.lower().rstrip(".")
    return key in WEEKDAYS or key in MONTHS or key.rstrip("s") in WEEKDAYS


def is_acronym(name: str) -> bool:
    """ "NATO", "U.S.", "M&S", "G7": written in capitals, so never a person's name."""
    return bool(_ACRONYM.match(name)) and sum(c.isupper() for c in name) >= 2


def title_before(text: str, start: int) -> bool:
    """Whether a role introduces the name at text[start:]: "Dr. Nadia Petrova" (the title outside spaCy's
    span) or "the defence secretary, Helen Carver"."""
    before = text[max(0, start - 40) : start].rstrip()
    comma = before.endswith(",")
    words = before.rstrip(",").split()
    if not words:
        return False
    key = _title_key(words[-1])
    return key in TITLE_WORDS if comma else key in PERSONAL_TITLES or key in TITLE_WORDS - TITLE_MODIFIERS


def has_personal_title(text: str) -> bool:
    """ "Mrs May", "President Trump": a title that only people carry, which vouches for the name after it."""
    words = strip_edges(text).split()
    return len(words) > 1 and any(_title_key(w) in PERSONAL_TITLES for w in words[:-1])


@functools.lru_cache(maxsize=65536)
def clean_name(text: str, label: str) -> tuple[str, str]:
    """Clean a mention's text and return (name, label); a personal title turns any label into PERSON.

    Junk is not dropped here ("May" may still turn out to be Theresa May): see `is_junk`.
    """
    name = strip_edges(text)
    first = _title_key(name.split()[0]) if name else ""
    head = name.split()[-1].lower() if " " in name else ""
    if head in ORG_HEADS - {"post"} or head in PLACE_HEADS:  # an institution or a place: no title in it
        if label == "PERSON":
            label = "ORG" if head in ORG_HEADS else "GPE"
        return name, label
    if label == "PERSON" or first in PERSONAL_TITLES:
        stripped, personal = strip_titles(name)
        if stripped != name:
            name = strip_edges(stripped)
            if personal:
                label = "PERSON"
    return name, label


_COMPOUND_JOIN = re.compile(r"(?<=[a-z\u00e0-\u00ff])[-\u2013\u2014/](?=[A-Z])")


def split_compound(text: str) -> list[tuple[int, int]]:
    """Character ranges of the names joined in "Barack Obama-Hillary Clinton", else [].

    spaCy reads such a pair as one span (often FAC); each part is a name of its own when every part has at
    least two capitalised words. Single words ("Coca-Cola", "Wang-Lavrov") are left alone.
    """
    bounds = [0] + [p for m in _COMPOUND_JOIN.finditer(text) for p in (m.start(), m.end())] + [len(text)]
    if len(bounds) < 4:
        return []
    parts = []
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        chunk = text[start:end]
        lead = len(chunk) - len(_LEADING_THE.sub("", chunk.lstrip()))
        start += lead
        chunk = text[start:end].rstrip()
        words = chunk.split()
        if len(words) < 2 or not all(w[:1].isupper() for w in words):
            return []
        parts.append((start, start + len(chunk)))
    return parts
