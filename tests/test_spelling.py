"""Did-you-mean (search/spelling.py): the nearest known word, by edits, then documents, then alphabet."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import app_config
from hypothesis import given
from hypothesis import strategies as st
from whoosh.reading import IndexReader

from searchsvc.config import load_settings
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService
from searchsvc.search.spelling import MAX_EDITS, nearest


def _edits(a: str, b: str) -> int:
    """Levenshtein distance, the textbook table."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def test_fewest_edits_win_then_most_documents_then_the_alphabet() -> None:
    documents = {"kim": 3, "king": 900, "kims": 3, "kimbo": 1}.get
    # "king" is two edits from "kimb" and far more frequent; "kim", "kims" and "kimbo" are one edit away.
    assert nearest("kimb", ["kim", "kimbo", "kims", "king"], lambda w: documents(w) or 0) == "kim"
    # Two edits each: the word more documents hold, then the first alphabetically.
    assert nearest("lavorv", ["labor", "lavrov"], {"labor": 2, "lavrov": 7}.__getitem__) == "lavrov"
    assert nearest("lavorv", ["labor", "lavrov"], lambda w: 1) == "labor"
    assert nearest("lavrov", ["lavrov"], lambda w: 1) is None  # the word itself is no suggestion
    assert nearest("abcdef", ["uvwxyz"], lambda w: 1) is None


@given(
    word=st.text("abc", min_size=1, max_size=6),
    words=st.lists(st.text("abc", min_size=1, max_size=7), max_size=25, unique=True),
    seed=st.integers(0, 9),
)
def test_the_suggestion_is_the_best_by_a_plain_edit_distance(word: str, words: list[str], seed: int) -> None:
    documents = {w: (hash(w) + seed) % 5 for w in words}
    ranked = sorted((_edits(word, w), -documents[w], w) for w in words if w != word and _edits(word, w) <= MAX_EDITS)
    expected = ranked[0][2] if ranked else None
    assert nearest(word, sorted(words), documents.__getitem__) == expected


@pytest.mark.parametrize("search_kernel", [True, False], ids=["kernel", "whoosh corrector"])
def test_a_misspelt_name_gets_the_known_one_by_either_path(
    index_dir: Path, search_kernel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the kernel the words come from its sorted keys (Whoosh's corrector, 40-140 ms a word at 104k articles,
    is not called); without it Whoosh's corrector still answers."""
    if search_kernel:
        monkeypatch.setattr(IndexReader, "corrector", lambda *a, **k: pytest.fail("Whoosh's corrector was used"))
    svc = SearchService(load_settings(app_config(index_dir, search_kernel=search_kernel), env={}))
    try:
        with svc._use() as (view, searcher):
            assert (svc._kernel_of(view, searcher) is not None) == search_kernel
        result = svc.search(SearchRequest(q="  Lavorv  visit"))
        assert result.total < 5 and result.suggestion == "lavrov  visit"  # "visit" alone matches a document
    finally:
        svc.close()
