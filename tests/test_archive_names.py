"""One canonical name per entity across the archive (search/archive_names.py): decided at read time from the
index's terms and alias table, so facets, filters and autocomplete agree, and a later document that links two
names merges them for the documents already indexed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from whoosh.fields import ID, KEYWORD, Schema

from searchsvc.config import load_settings
from searchsvc.index.indexer import IndexOptions, index_paths
from searchsvc.index.store import IndexStore
from searchsvc.search.archive_names import _lexicon, compute
from searchsvc.search.requests import Filters, SearchRequest
from searchsvc.search.service import SearchService
from tests.conftest import MODEL, TEST_SETTINGS


def test_a_surname_takes_the_one_full_name_the_archive_gives_it() -> None:
    terms = {"reagan": 480, "ronald reagan": 24, "baker": 40, "james baker": 10, "howard baker": 9}
    names = compute(terms, [], "person")
    assert names.of("reagan") == "ronald reagan"
    assert names.group("reagan") == names.group("ronald reagan") == ("ronald reagan", "reagan")
    assert names.of("baker") == "baker"  # two people the archive names alike: left as written


def test_the_alias_table_links_short_forms_and_chains_are_followed() -> None:
    terms = {"fed": 50, "federal reserve board": 139, "federal reserve": 195, "treasury": 80, "u.s. treasury": 60}
    terms |= {"chrysler": 100, "chrysler financial": 10}
    links = [
        ("fed", "federal reserve board", 3),
        ("treasury", "u.s. treasury", 12),
        ("chrysler", "chrysler financial", 4),
    ]
    links.append(("us treasury", "u.s. treasury", 30))  # the canonical name's own key: no vote
    names = compute(terms, links, "org")
    assert names.of("fed") == names.of("federal reserve board") == "federal reserve"
    assert names.of("treasury") == "u.s. treasury"
    assert names.of("chrysler") == "chrysler"  # a far rarer name is no canonical name for a common one
    # Stable: the same terms in another order give the same names.
    again = compute(dict(reversed(list(terms.items()))), list(reversed(links)), "org")
    assert again == names


def test_government_bodies_and_acronyms_are_one_organisation() -> None:
    terms = {
        "usda": 50,
        "u.s. agriculture department": 80,
        "u.s. department of agriculture": 20,
        "justice department": 9,
    }
    names = compute(terms, [], "org")
    assert names.of("usda") == names.of("u.s. department of agriculture") == "u.s. agriculture department"
    assert names.of("justice department") == "justice department"
    assert compute({"ec": 9, "european community": 10, "export council": 10}, [], "org").of("ec") == "ec"


def test_a_clipped_name_is_the_organisation_it_shares_its_documents_with() -> None:
    terms = {"fed": 40, "federal reserve": 50, "federal deposit insurance corp": 30}
    shared = {("fed", "federal reserve"): 30, ("fed", "federal deposit insurance corp"): 1}
    names = compute(terms, [], "org", lambda a, b: shared.get((a, b), 0))
    assert names.of("fed") == "federal reserve"
    shared[("fed", "federal deposit insurance corp")] = 20  # shared alike: no merge
    assert compute(terms, [], "org", lambda a, b: shared.get((a, b), 0)).of("fed") == "fed"


def _write(folder: Path, docs: list[dict[str, str]]) -> None:
    for doc in docs:
        (folder / f"{doc['id']}.json").write_text(json.dumps(doc), encoding="utf-8")


DOCS = [
    {"id": "bare1", "title": "Veto", "body": "President Reagan vetoed the trade bill on Tuesday, officials said."},
    {"id": "bare2", "title": "Budget", "body": "President Reagan sent the budget to Congress in Washington."},
    {"id": "james", "title": "Talks", "body": "Treasury Secretary James Baker met bankers in London."},
    {"id": "howard", "title": "Staff", "body": "White House chief of staff Howard Baker met reporters in Washington."},
    {"id": "baker", "title": "Comment", "body": "Mr Baker declined to comment on the talks in Paris."},
]
LINKS = [
    {"id": f"link{n}", "title": "Profile", "body": f"Ronald Reagan spoke in {city}. Reagan said trade must be fair."}
    for n, city in enumerate(("Chicago", "Boston", "Denver"))
]  # MIN_DOCUMENTS documents that give the full name


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[tuple[Path, IndexStore, SearchService]]:
    folder = tmp_path / "docs"
    folder.mkdir()
    _write(folder, DOCS)
    store = IndexStore(tmp_path / "index")
    index_paths([folder], store, IndexOptions(model=MODEL, workers=1))
    service = SearchService(load_settings({**TEST_SETTINGS, "index_dir": str(tmp_path / "index")}, env={}))
    yield folder, store, service
    service.close()


def _people(service: SearchService) -> dict[str, int]:
    result = service.search(SearchRequest(facets=("person",), facet_size=50, highlight=False))
    return {v["value"]: v["count"] for v in result.facets["person"]}


def _found(service: SearchService, name: str) -> set[str]:
    result = service.search(SearchRequest(filters=Filters(person=(name,)), limit=50, highlight=False))
    return {h.id for h in result.hits}


def test_a_later_document_linking_two_names_merges_them_everywhere(
    archive: tuple[Path, IndexStore, SearchService],
) -> None:
    folder, store, service = archive
    assert _people(service)["Reagan"] == 2
    _write(folder, LINKS)
    index_paths([folder], store, IndexOptions(model=MODEL, workers=1))  # incremental: only the new file
    people = _people(service)
    assert people["Ronald Reagan"] == 5 and "Reagan" not in people  # the older documents followed
    everyone = {"bare1", "bare2", "link0", "link1", "link2"}
    assert _found(service, "Reagan") == _found(service, "ronald reagan") == everyone
    assert [e["name"] for e in service.entities("person", "reag")] == ["Ronald Reagan"]
    assert service.entities("person", "reag")[0]["count"] == 5
    # An ambiguous surname stays itself: "Baker" is neither James nor Howard Baker.
    assert people["Baker"] == 1 and people["James Baker"] == 1 and people["Howard Baker"] == 1
    assert _found(service, "Baker") == {"baker"}
    # Stable: rebuilding from the same files gives the same names.
    index_paths([folder], store, IndexOptions(model=MODEL, workers=1, rebuild=True))
    assert _people(service) == people


def test_the_lexicon_is_read_segment_by_segment_as_whoosh_reads_it_whole(tmp_path: Path) -> None:
    """Every HTTP write adds a segment, and a reader of several looked each term up in all of them (2.3 s at 104k
    articles on every new view's first faceted search): the terms and their document counts summed over the
    segments are Whoosh's, in its order, names and deletions across segments included."""
    store = IndexStore(tmp_path / "index")
    ix = store.create_generation()[0].storage.create_index(
        Schema(id=ID(stored=True, unique=True), person=KEYWORD(commas=True, lowercase=True)), indexname="T"
    )
    people = ["ann lee", "bo", "ann lee,cy", "zoë", "bo,ann lee", "cy", "émile", "bo,al"]  # "al" last, first in order
    for start in range(0, len(people), 3):
        writer = ix.writer()
        for n, names in enumerate(people[start : start + 3], start):
            writer.add_document(id=f"d{n}", person=names)
        writer.commit(merge=False)
    writer = ix.writer()
    writer.delete_by_term("id", "d1")
    writer.commit(merge=False)
    with ix.reader() as reader:
        assert len(reader.leaf_readers()) == 3
        whole = [(t.decode("utf-8"), i.doc_frequency()) for t, i in reader.iter_prefix("person", "")]
        assert list(_lexicon(reader, "person")) == whole
        assert list(_lexicon(reader, "person", "b")) == [("bo", 3)]
