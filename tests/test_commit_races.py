"""A commit racing a reader that opens the index: the reader opens from one consistent commit, never fails.

Whoosh finds the latest commit by listing the TOC files, then opening the newest; a commit landing in between
writes a newer TOC and deletes the listed one. The interleaving is forced here: the listing itself runs a commit
before it returns, on the listings chosen by each case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_SETTINGS, hit_ids
from whoosh.index import TOC

from searchsvc.config import load_settings
from searchsvc.documents import document_from_mapping
from searchsvc.extract.types import Extraction
from searchsvc.index.schema import document_fields
from searchsvc.index.store import IndexStore
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService


def _racing_commits(index_dir: Path, race_on: Callable[[int], bool]) -> tuple[list[str], Callable[..., int]]:
    """A stand-in for Whoosh's TOC listing whose listing number n (from 1) is followed by a commit adding a
    document when `race_on(n)`, and the ids those commits added (filled in as they happen)."""
    ix, _ = IndexStore(index_dir).open()
    added: list[str] = []
    real = TOC._latest_generation.__func__  # type: ignore[attr-defined]
    calls = [0]
    busy = [False]

    def listing(cls: Any, storage: Any, indexname: str) -> int:
        generation: int = real(cls, storage, indexname)
        if busy[0]:
            return generation
        calls[0] += 1
        if race_on(calls[0]):
            busy[0] = True
            try:
                doc_id = f"raced-{calls[0]}"
                writer = ix.writer()
                doc = document_from_mapping({"id": doc_id, "title": "Racing commit", "body": "zebracrossing"})
                writer.add_document(**document_fields(doc, Extraction(), path="", content_hash=""))
                writer.commit()  # writes generation + 1 and deletes the TOC just listed
                added.append(doc_id)
            finally:
                busy[0] = False
        return generation

    return added, listing


@pytest.mark.parametrize(
    "race_on",
    [
        pytest.param(lambda n: n == 1, id="opening-the-index"),
        pytest.param(lambda n: n == 2, id="reading-the-commit"),
        # Before the fix, listing 3 was `ix.schema` reading the TOC again, unretried (a 500); a view now reads
        # its commit once, so nothing lists a third time and no commit may race it.
        pytest.param(lambda n: n == 3, id="a-later-read"),
        pytest.param(lambda n: n <= 4, id="four-in-a-row"),
    ],
)
def test_a_view_opens_while_commits_race_it(
    own_index_dir: Path, monkeypatch: pytest.MonkeyPatch, race_on: Callable[[int], bool]
) -> None:
    added, listing = _racing_commits(own_index_dir, race_on)
    monkeypatch.setattr(TOC, "_latest_generation", classmethod(listing))
    service = SearchService(load_settings({**TEST_SETTINGS, "index_dir": str(own_index_dir)}, env={}))
    try:
        found = service.search(SearchRequest(q="zebracrossing"), use_cache=False)
        monkeypatch.undo()
        if race_on(1) or race_on(2):
            assert added, "no commit raced the view: the test no longer forces the interleaving"
        with service._use() as (view, _):
            assert view.toc_generation == view.ix.latest_generation()  # the commit after the last race
        assert set(hit_ids(found.to_json())) <= set(added)
    finally:
        service.close()
