"""Similar documents (GET /documents/<id>/similar) are bounded like a search: one query_timeout, a cache."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import app_config
from whoosh import query as wq
from whoosh.searching import Searcher

from searchsvc.config import load_settings
from searchsvc.index.schema import COMBINED_FIELD
from searchsvc.search import docsets, kernel
from searchsvc.search.service import SearchService

FIRST_LIKE_HARBOUR_B = ["undated-note", "000_453fa8f07bc740fc", "harbour-a"]  # measured before the change


@pytest.mark.parametrize("search_kernel", [False, True])
def test_similar_documents_are_unchanged(make_app: Any, search_kernel: bool) -> None:
    data = make_app(search_kernel=search_kernel).test_client().get("/documents/harbour-b/similar?limit=3").get_json()
    assert [h["id"] for h in data["hits"]] == FIRST_LIKE_HARBOUR_B and data["timed_out"] is False


@pytest.mark.parametrize("search_kernel", [False, True])
def test_similar_documents_stop_at_the_query_timeout(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, search_kernel: bool
) -> None:
    monkeypatch.setattr(docsets, "DEADLINE_EVERY", 1)
    monkeypatch.setattr(kernel, "DEADLINE_EVERY", 1)
    client = make_app(search_kernel=search_kernel, query_timeout=0.0).test_client()
    response = client.get("/documents/harbour-b/similar")
    assert response.status_code == 200
    data = response.get_json()
    assert data["timed_out"] is True and len(data["hits"]) <= 1
    again = client.get("/documents/harbour-b/similar").get_json()
    assert again["timed_out"] is True  # a partial answer is not cached


def test_the_ranking_of_similar_documents_reads_the_clock(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By Whoosh's matchers (the kernel reads the clock between segments: the session index has one)."""
    monkeypatch.setattr(docsets, "DEADLINE_EVERY", 1)
    svc = SearchService(load_settings(app_config(index_dir, search_kernel=False), env={}))
    try:
        with svc._use() as (view, searcher):
            q = wq.Or([wq.Term(COMBINED_FIELD, word) for word in ("harbour", "ferri", "storm")])
            _, timed_out = svc._similar_ranked(view, searcher, q, 5, deadline=time.monotonic() - 1)
        assert timed_out
    finally:
        svc.close()


def test_similar_documents_are_cached_per_index_view(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = Searcher.key_terms_from_text

    def counted(self: Searcher, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Searcher, "key_terms_from_text", counted)
    client = make_app().test_client()
    first = client.get("/documents/harbour-a/similar?limit=2").get_json()
    assert client.get("/documents/harbour-a/similar?limit=2").get_json() == first
    assert len(calls) == 1
    client.get("/documents/harbour-a/similar?limit=3")  # another request: computed
    assert len(calls) == 2
