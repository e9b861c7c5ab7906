"""highlight.py: spans, phrases as one mark, escaping, fragments, and agreement with the index's analyzers."""

from __future__ import annotations

from conftest import fuzz
from hypothesis import given
from hypothesis import strategies as st

from searchsvc.index.schema import name_analyzer, text_analyzer
from searchsvc.search.highlight import Marks, highlight_body, highlight_title, normalise, render, stem


def marks(
    stems: set[str] = frozenset(),
    names: set[str] = frozenset(),  # type: ignore[assignment]
    phrases: list[tuple[tuple[str, ...], bool]] | None = None,
) -> Marks:
    return Marks(set(stems), set(names), phrases or [])


def test_phrase_is_one_mark_and_its_stopword_alone_is_not_marked() -> None:
    text = "China's Belt and Road plan, and the road ahead."
    out = highlight_title(text, marks(phrases=[(("belt", "and", "road"), True)]))
    assert out == ["China's <mark>Belt and Road</mark> plan, and the road ahead."]


def test_stemmed_terms_match_inflections_and_possessives() -> None:
    out = highlight_title("Talks, talked; the talk's end", marks(stems={"talk"}))
    assert out == ["<mark>Talks</mark>, <mark>talked</mark>; the <mark>talk's</mark> end"]


def test_adjacent_marks_join() -> None:
    out = highlight_title("Minister Sergey Lavrov said", marks(names={"sergey", "lavrov"}))
    assert out == ["Minister <mark>Sergey Lavrov</mark> said"]


def test_everything_outside_marks_is_escaped() -> None:
    out = render("<b>x</b> & <script>", [(3, 4)])
    assert out == "&lt;b&gt;<mark>x</mark>&lt;/b&gt; &amp; &lt;script&gt;"


def test_no_match_no_fragments() -> None:
    assert highlight_body("nothing here", marks(stems={"zebra"})) == []
    assert highlight_title("nothing here", marks()) == []


def test_fragments_are_bounded_and_in_text_order() -> None:
    body = " ".join(f"filler{i}" for i in range(400)) + " zebra " + " ".join(f"more{i}" for i in range(400))
    body += " zebra end"
    fragments = highlight_body(body, marks(stems={"zebra"}), max_fragments=2, fragment_chars=120)
    assert len(fragments) == 2
    assert all(f.count("<mark>zebra</mark>") == 1 for f in fragments)
    assert all(len(f) < 300 for f in fragments)
    assert fragments[0].startswith("… ") and fragments[0].endswith(" …")
    # In the order of the text: the first zebra (after filler399) before the second (after more399).
    assert "filler399 <mark>zebra</mark>" in fragments[0] and "more399" not in fragments[0], fragments
    assert "more399 <mark>zebra</mark> end" in fragments[1] and "filler" not in fragments[1], fragments


def test_whitespace_is_collapsed() -> None:
    assert render("a\n\n  b", []) == "a b"


@fuzz(100)
@given(st.text(alphabet=st.sampled_from("abcdeABC.'’s -"), min_size=1, max_size=30))
def test_tokens_agree_with_the_index_analyzers(text: str) -> None:
    from searchsvc.search.highlight import _WORD

    mine = [normalise(m.group()) for m in _WORD.finditer(text)]
    theirs = [t.text for t in name_analyzer()(text)]
    assert [w for w in mine if w] == theirs
    assert [stem(w) for w in mine if w] == [t.text for t in text_analyzer()(text)]


# -- find_spans against the analyzers' rule ------------------------------------------------------------------
def reference_spans(text: str, m: Marks) -> list[tuple[int, int]]:
    """What find_spans must return, by the plainest reading of the rule: every token of the text normalised and
    stemmed as the index analyses it; a phrase is a run of consecutive tokens; the spans merged by _merge."""
    from searchsvc.search.highlight import _WORD, MAX_SCAN_CHARS, _merge

    tokens = [(normalise(t.group()), t.start(), t.end()) for t in _WORD.finditer(text, 0, MAX_SCAN_CHARS)]
    tokens = [(w, stem(w), s, e) for w, s, e in tokens]
    spans = [(s, e) for w, st, s, e in tokens if w in m.names or st in m.stems]
    for words, is_stemmed in m.phrases:
        key = 1 if is_stemmed else 0
        for i in range(len(tokens) - len(words) + 1):
            if all(tokens[i + j][key] == w for j, w in enumerate(words)):
                spans.append((tokens[i][2], tokens[i + len(words) - 1][3]))
    return _merge(spans, text)


# Words that stem alike, possessives, dotted abbreviations, apostrophes, Snowball's exceptions ("dying" -> "die"),
# one-letter words, digits, and words that share their first letters with the wanted ones without matching.
VOCABULARY = [
    "talk",
    "talks",
    "talked",
    "Talking",
    "talk's",
    "TALK",
    "tall",
    "tale",
    "belt",
    "Belt",
    "belts",
    "and",
    "AND",
    "andes",
    "road",
    "Road's",
    "roads",
    "roadie",
    "U.S.",
    "U.S",
    "US",
    "us",
    "u.s.a.",
    "USA",
    "usa",
    "use",
    "dying",
    "die",
    "dies",
    "died",
    "Dyer",
    "lying",
    "lie",
    "a",
    "A's",
    "an",
    "I",
    "o'neill",
    "O’Neill",
    "one's",
    "it's",
    "its",
    "happy",
    "happiness",
    "happi",
    "Sergey",
    "sergey's",
    "Lavrov",
    "lavrov",
    "lav",
    "1987",
    "87",
    "19",
    "rock'n'roll",
    "e.g",
    "x.y.z",
    "Über",
    "über",
    "naïve",
    "_",
    "the",
]
SEPARATORS = [" ", "  ", ", ", ". ", "\n", "-", "'", "’", ".", "..", "(", ") ", "/", "\x1e", " 's ", "&", ""]
words_st = st.sampled_from(VOCABULARY)
wanted_words = st.sampled_from(VOCABULARY).map(lambda w: normalise(w))


@st.composite
def texts_and_marks(draw: st.DrawFn) -> tuple[str, Marks]:
    parts = draw(st.lists(st.tuples(words_st, st.sampled_from(SEPARATORS)), max_size=40))
    text = "".join(w + s for w, s in parts)
    stems = draw(st.sets(wanted_words.map(stem), max_size=4))
    names = draw(st.sets(wanted_words, max_size=3))
    phrases = draw(
        st.lists(
            st.tuples(st.lists(wanted_words, min_size=2, max_size=3).map(tuple), st.booleans()).map(
                lambda p: (tuple(stem(w) for w in p[0]) if p[1] else p[0], p[1])
            ),
            max_size=3,
        )
    )
    # A phrase's words taken from the text itself, so that phrases are found, not only missed.
    if len(parts) >= 2 and draw(st.booleans()):
        i = draw(st.integers(0, len(parts) - 2))
        words = tuple(normalise(w) for w, _ in parts[i : i + 2])
        if all(words):
            stemmed = draw(st.booleans())
            phrases.append((tuple(stem(w) for w in words) if stemmed else words, stemmed))
    return text, marks({w for w in stems if w}, {w for w in names if w}, phrases)


@fuzz(400)
@given(texts_and_marks())
def test_find_spans_is_the_analyzers_rule(case: tuple[str, Marks]) -> None:
    from searchsvc.search.highlight import find_spans

    text, m = case
    assert find_spans(text, m) == reference_spans(text, m)


def test_words_that_start_unlike_their_stem_are_marked() -> None:
    # Snowball stems "dying" to "die" and keeps the possessive one-letter "A's" as "a": neither starts like
    # what is searched for, and both were missed when tokens were filtered by their first two letters.
    assert highlight_title("Dying, he lies", marks(stems={"die", "lie"})) == [
        "<mark>Dying</mark>, he <mark>lies</mark>"
    ]
    assert highlight_title("Plan A's cost", marks(names={"a"})) == ["Plan <mark>A's</mark> cost"]


def test_phrase_words_are_adjacent_only_without_a_word_between() -> None:
    m = marks(phrases=[(("belt", "and", "road"), True)])
    assert highlight_title("Belt, and... Road!", m) == ["<mark>Belt, and... Road</mark>!"]
    assert highlight_title("Belt and the Road; belt and road", m) == ["Belt and the Road; <mark>belt and road</mark>"]
    assert highlight_title("U.S. and U.S.A.", marks(phrases=[(("us", "and", "usa"), False)])) == [
        "<mark>U.S. and U.S.A</mark>."
    ]


# Letters, what HTML escapes, whitespace of several kinds, and the characters render stands for the tags with.
RENDERED = list("ab <&>\"'\n\t") + ["\u00a0", "\ue000", "\ue001", "\u2028", "\x1e", "\x85"]


@fuzz(300)
@given(
    st.text(alphabet=st.sampled_from(RENDERED), max_size=30),
    st.data(),
)
def test_render_escapes_and_collapses_each_segment_alone(text: str, data: st.DataObject) -> None:
    import html
    import re

    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=6)))
    spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b]
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))

    def plain(segment: str) -> str:
        return re.sub(r"\s+", " ", html.escape(segment, quote=False))

    expected, pos = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        expected += [plain(text[pos:s]), f"<mark>{plain(text[s:e])}</mark>"]
        pos = e
    expected.append(plain(text[pos:end]))
    assert render(text, spans, start, end) == "".join(expected).strip()


def test_every_capital_of_a_wanted_letter_is_looked_for() -> None:
    from searchsvc.search.highlight import OTHER_CAPITALS

    others: dict[str, str] = {}
    for c in map(chr, range(0x110000)):
        low = c.lower()
        if len(low) == 1 and low != c and c not in (low.upper(), low.title()):
            assert low not in others, "more than one other capital for a letter"
            others[low] = c
    assert others == OTHER_CAPITALS
    assert highlight_title("\u212aelvin", marks(names={"kelvin"})) == ["<mark>\u212aelvin</mark>"]
