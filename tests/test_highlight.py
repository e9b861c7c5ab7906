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
