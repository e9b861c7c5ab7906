"""search.py: ranking, filters, facets, highlights, sorting, pagination, counting, caching, index swaps."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import SEED_ID, TEST_SETTINGS, build_index, write_corpus

from searchsvc.config import load_settings
from searchsvc.errors import IndexUnavailableError, ParameterError, QueryError
from searchsvc.search import docsets
from searchsvc.search import service as search_module
from searchsvc.search.query import query_builder
from searchsvc.search.requests import Filters, SearchRequest
from searchsvc.search.service import SearchResult, SearchService


def ids(result: SearchResult) -> list[str]:
    return [h.id for h in result.hits]


def make_service(index_dir: Path, **overrides: object) -> SearchService:
    return SearchService(load_settings({**TEST_SETTINGS, "index_dir": str(index_dir), **overrides}, env={}))


# -- acceptance ----------------------------------------------------------------------------------------------
def test_phrase_finds_the_seed_and_marks_the_phrase_as_one_span(service: SearchService) -> None:
    result = service.search(SearchRequest(q='"Belt and Road"'))
    assert ids(result) == [SEED_ID]
    body = result.hits[0].highlights["body"]
    assert body and all("<mark>Belt and Road</mark>" in fragment for fragment in body)
    assert "<mark>and</mark>" not in " ".join(body)


def test_not_excludes_the_seed(service: SearchService) -> None:
    result = service.search(SearchRequest(q="Belt NOT Road"))
    assert SEED_ID not in ids(result)
    assert "fashion-belt" in ids(result)


@pytest.mark.parametrize("q", ["ferry NOT morning", "harbour -was", "ferry -at"])
def test_not_excludes_the_first_document_of_the_positive_words(service: SearchService, q: str) -> None:
    """Whoosh's AndNot matcher never checked the positive side's first document when the excluded word's
    postings started earlier: that document was ranked (and counted by phrases) though it holds the word."""
    excluded = q.split()[-1].lstrip("-")
    result = service.search(SearchRequest(q=q, limit=50, highlight=False))
    assert result.hits and len(result.hits) == result.total
    for hit in result.hits:
        document = service.get_document(hit.id)
        assert document is not None
        assert excluded not in f"{document['title']} {document['body']}".lower().split()


def test_phrase_order_matters(service: SearchService) -> None:
    assert SEED_ID not in ids(service.search(SearchRequest(q='"Road and Belt"')))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('body:"first ferry"', ["harbour-b"]),
        ('body:"ferry first"', []),  # order
        ('body:"wang yi meets"', []),  # a phrase of the title only is not in the body
        ('title:"wang yi meets"', ["wang-alaska"]),
        ('body:"leather belt"~1', ["fashion-belt"]),  # "A wide leather belt"
        ('body:"wide belt"~1', ["fashion-belt"]),
        ('body:"wide belt"', []),
    ],
)
def test_body_phrases_match_only_the_body_in_order(service: SearchService, q: str, expected: list[str]) -> None:
    result = service.search(SearchRequest(q=q))
    assert ids(result) == expected
    if expected and q.startswith("body:"):  # the phrase is marked in the body
        first_word = q.split('"')[1].split()[0]
        assert f"<mark>{first_word}" in " ".join(result.hits[0].highlights["body"]).lower()


def test_person_filter_with_person_and_place_facets(service: SearchService) -> None:
    result = service.search(SearchRequest(filters=Filters(person=("Sergey Lavrov",)), facets=("person", "place")))
    assert ids(result) == [SEED_ID]
    people = {f["value"]: f["count"] for f in result.facets["person"]}
    places = {f["value"]: f["count"] for f in result.facets["place"]}
    assert people["Wang Yi"] == 1 and people["Sergey Lavrov"] == 1
    assert places["China"] == 1


@pytest.mark.parametrize(
    ("name", "found"),
    # "Lavrov" is how the article also writes him (an alias); "Sergey" alone it never writes.
    [("sergey lavrov", True), ("SERGEY LAVROV", True), ("Lavrov", True), ("Sergey", False)],
)
def test_person_filter_matches_whole_names_in_any_case(service: SearchService, name: str, found: bool) -> None:
    result = service.search(SearchRequest(filters=Filters(person=(name,))))
    assert (SEED_ID in ids(result)) is found


@pytest.mark.parametrize(
    ("kind", "written", "canonical"),
    [
        ("place", "U.S.", "United States"),
        ("place", "us", "United States"),
        ("place", "USA", "United States"),
        ("org", "NATO", "North Atlantic Treaty Organization"),
        ("org", "nato", "North Atlantic Treaty Organization"),
        ("person", "nicolas maduro", "Nicolás Maduro"),
        ("person", "Nicolas Maduro", "Nicolás Maduro"),
        ("person", "putin", "Vladimir Putin"),
    ],
)
def test_filters_use_the_canonicaliser_of_the_index(
    service: SearchService, kind: str, written: str, canonical: str
) -> None:
    """A filter finds what the canonical name finds, however the user writes the name (issue 18)."""
    expected = ids(service.search(SearchRequest(filters=Filters(**{kind: (canonical,)}))))
    assert SEED_ID in expected
    assert ids(service.search(SearchRequest(filters=Filters(**{kind: (written,)})))) == expected


def test_query_fields_use_the_alias_table_too(service: SearchService) -> None:
    assert SEED_ID in ids(service.search(SearchRequest(q='place:"u.s."')))
    assert SEED_ID in ids(service.search(SearchRequest(q='person:"nicolas maduro"')))


def test_autocomplete_matches_aliases(service: SearchService) -> None:
    assert service.entities("place", "u.s")[0]["name"] == "United States"
    assert service.entities("place", "US")[0]["name"] == "United States"
    assert service.entities("person", "nicolas")[0]["name"] == "Nicolás Maduro"
    assert service.entities("org", "nato")[0]["name"] == "North Atlantic Treaty Organization"
    assert [e["name"] for e in service.entities("person", "lavr")] == ["Sergey Lavrov"]


def test_entity_field(service: SearchService) -> None:
    result = service.search(SearchRequest(q="entity:lavrov"))
    assert ids(result) == [SEED_ID]
    assert any("<mark>Lavrov</mark>" in f for f in result.hits[0].highlights["body"])


def test_misspelling_suggests_the_known_name(service: SearchService) -> None:
    result = service.search(SearchRequest(q="Lavorv"))
    assert result.total == 0
    assert result.suggestion is not None and "lavrov" in result.suggestion.lower()
    assert service.search(SearchRequest(q="Lavrov")).suggestion is None


def test_suggestion_keeps_the_rest_of_the_query(service: SearchService) -> None:
    result = service.search(SearchRequest(q='  "foreign minister" Lavorv ', match="all"))
    assert result.suggestion == '"foreign minister" lavrov'


# -- ranking and match modes ---------------------------------------------------------------------------------
def test_short_queries_rank_documents_with_every_word_first(service: SearchService) -> None:
    auto = ids(service.search(SearchRequest(q="harbour ferry")))
    both = {"harbour-b", "undated-note"}  # the documents containing both words
    assert set(auto[:2]) == both and auto[2] == "harbour-a"
    # `any` ranks by score alone: the document repeating one word five times is among the matches.
    assert set(ids(service.search(SearchRequest(q="harbour ferry", match="any")))) >= both | {"harbour-a"}
    assert set(ids(service.search(SearchRequest(q="harbour ferry", match="all")))) == both


def test_title_matches_count(service: SearchService) -> None:
    result = service.search(SearchRequest(q="leather"))
    assert ids(result) == ["fashion-belt"]
    assert result.hits[0].highlights["title"] == ["<mark>Leather</mark> belt returns"]


# -- filters, sorting, pagination ----------------------------------------------------------------------------
def test_empty_query_lists_everything_newest_first(service: SearchService) -> None:
    result = service.search(SearchRequest(limit=100))
    assert result.total == 8 and result.total_relation == "eq"
    published = [h.published for h in result.hits]
    dated = [p for p in published if p]
    assert dated == sorted(dated, reverse=True)
    assert published[-1] is None  # undated last
    assert all(h.score is None for h in result.hits)


def test_oldest_first_keeps_undated_last(service: SearchService) -> None:
    published = [h.published for h in service.search(SearchRequest(sort="published", limit=100)).hits]
    assert published[0] == "2019-06-01" and published[-1] is None


def test_date_filters(service: SearchService) -> None:
    march = service.search(SearchRequest(filters=Filters(published_from="2021-03", published_to="2021-03")))
    assert set(ids(march)) == {SEED_ID, "wang-alaska", "reports/2021/03/nato"}
    day = service.search(SearchRequest(filters=Filters(published_from="2021-03-19", published_to="2021-03-19")))
    assert ids(day) == [SEED_ID]
    after = service.search(SearchRequest(filters=Filters(published_from="2021-04"), limit=100))
    assert ids(after) == ["fashion-belt"]
    mentioned = service.search(SearchRequest(filters=Filters(mentioned_from="2021-03-20", mentioned_to="2021-03")))
    assert ids(mentioned) == [SEED_ID]


def test_filters_combine_with_a_query(service: SearchService) -> None:
    result = service.search(SearchRequest(q="China", filters=Filters(place=("Alaska",), published_to="2021-03-18")))
    assert ids(result) == ["wang-alaska"]


def test_pagination(service: SearchService) -> None:
    every = ids(service.search(SearchRequest(q="the", limit=100)))
    assert len(every) > 3
    page = service.search(SearchRequest(q="the", limit=2, offset=1))
    assert ids(page) == every[1:3]
    assert page.total == len(every)
    assert ids(service.search(SearchRequest(q="the", offset=1000))) == []


def test_facets_count_every_match_not_just_the_page(service: SearchService) -> None:
    result = service.search(SearchRequest(q="China", limit=1, facets=("place", "published", "mentioned")))
    assert len(result.hits) == 1
    places = {f["value"]: f["count"] for f in result.facets["place"]}
    assert places["China"] == 3
    months = {f["value"]: f["count"] for f in result.facets["published"]}
    assert months == {"2021-03": 3}
    assert {f["value"] for f in result.facets["mentioned"]} == {"2021-03"}


def test_facet_size(service: SearchService) -> None:
    result = service.search(SearchRequest(facets=("place",), facet_size=2))
    assert len(result.facets["place"]) == 2
    counts = [f["count"] for f in result.facets["place"]]
    assert counts == sorted(counts, reverse=True)


def test_unknown_facet_and_sort_are_parameter_errors(service: SearchService) -> None:
    with pytest.raises(ParameterError) as caught:
        service.search(SearchRequest(facets=("colour",)))
    assert caught.value.field == "facets"
    with pytest.raises(ParameterError):
        service.search(SearchRequest(sort="random"))


# -- counting ------------------------------------------------------------------------------------------------
def test_counts_past_count_bound(index_dir: Path) -> None:
    svc = make_service(index_dir, count_bound=3)
    try:
        # Document frequencies alone prove more than count_bound matches: a lower bound, like Elasticsearch.
        common = svc.search(SearchRequest(q="the", limit=1))
        assert (common.total, common.total_relation) == (3, "gte")
        # No single word proves it, so the documents are counted (cheaply, by set algebra): exact.
        spread = svc.search(SearchRequest(q="leather OR storm OR ferry", limit=1))
        assert (spread.total, spread.total_relation) == (4, "eq")
        # Facets need every match anyway: exact.
        faceted = svc.search(SearchRequest(q="the", limit=1, facets=("place",)))
        assert faceted.total_relation == "eq" and faceted.total > 3
        assert ids(faceted) == ids(common)
    finally:
        svc.close()


def test_phrase_counts_are_a_lower_bound_past_count_bound(index_dir: Path) -> None:
    svc = make_service(index_dir, count_bound=2)
    try:
        bounded = svc.search(SearchRequest(q='"the harbour"', limit=1))
        assert bounded.total_relation == "gte" and bounded.total >= 2
        exact = svc.search(SearchRequest(q='"the harbour"', limit=1, facets=("place",)))
        assert exact.total_relation == "eq" and exact.total == 3
        assert ids(bounded) == ids(exact)
    finally:
        svc.close()


@pytest.mark.parametrize(
    ("q", "filters"),
    [
        ("the", Filters(published_from="2019-01-01", published_to="2019-12-31")),
        ("harbour OR ferry", Filters(published_from="2019-06-02")),
        ("minister", Filters(person=("Wang Yi",))),
        ('"foreign minister"', Filters(published_from="2021-01-01", place=("China",))),
        ("the -harbour", Filters(published_to="2021-12-31")),
        ("belt", Filters(published_from="2022-01-01")),  # the filter matches nothing
        ("zzzunknown", Filters(published_from="2019-01-01")),  # the text matches nothing
    ],
)
def test_filtered_searches_match_and_rank_as_the_whole_query(service: SearchService, q: str, filters: Filters) -> None:
    """Filters are matched first and the text ranked among their documents (search.py's _filtered): the same
    documents, count and order as Whoosh running text AND filters at once."""
    result = service.search(SearchRequest(q=q, filters=filters, limit=50))
    built = query_builder().build(q, filters=filters)
    with service._use() as (_, searcher):
        raw = searcher.search(built.query, limit=None)
        expected = [searcher.stored_fields(hit.docnum)["id"] for hit in raw]
    assert (result.total, result.total_relation) == (len(expected), "eq")
    assert ids(result) == expected


def test_filtered_counts_stop_at_count_bound(index_dir: Path) -> None:
    svc = make_service(index_dir, count_bound=2)
    try:
        dated = Filters(published_from="2019-01-01", published_to="2021-12-31")
        bounded = svc.search(SearchRequest(q="the", filters=dated, limit=1))
        assert bounded.total_relation == "gte" and bounded.total >= 2
        exact = svc.search(SearchRequest(q="the", filters=dated, limit=1, facets=("place",)))
        assert exact.total_relation == "eq" and exact.total > 2
        assert ids(bounded) == ids(exact)
    finally:
        svc.close()


def test_a_search_past_its_time_limit_returns_what_it_found(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docsets, "DEADLINE_EVERY", 1)
    # The Whoosh path (the kernel's own time limit: tests/test_kernel.py).
    svc = make_service(index_dir, query_timeout=0.0, search_kernel=False)
    try:
        words = svc.search(SearchRequest(q="the"))
        # Counting stopped at its first clock check, then ranking at its first: what was found so far.
        assert words.timed_out and words.total_relation == "gte" and 1 <= len(words.hits) <= words.total < 6
        phrase = svc.search(SearchRequest(q='"the harbour"', sort="published"))
        assert phrase.timed_out and phrase.total_relation == "gte"  # counted by matching, which stopped
    finally:
        svc.close()


def test_too_broad_patterns_are_rejected(index_dir: Path) -> None:
    svc = make_service(index_dir, max_expansion=3)
    try:
        with pytest.raises(QueryError) as caught:
            svc.search(SearchRequest(q="th*"))
        assert "th*" in caught.value.message
        assert svc.search(SearchRequest(q="harb*")).total == 3
    finally:
        svc.close()


# -- highlights ----------------------------------------------------------------------------------------------
def test_document_html_is_escaped_around_marks(service: SearchService) -> None:
    result = service.search(SearchRequest(q="script comments"))
    text = " ".join(result.hits[0].highlights["body"])
    assert "<script>" not in text
    assert "&lt;<mark>script</mark>&gt;" in text
    assert "<mark>comments</mark>" in text


def test_highlights_can_be_turned_off(service: SearchService) -> None:
    hit = service.search(SearchRequest(q="storm", highlight=False)).hits[0]
    assert hit.highlights == {"title": [], "body": []}


@pytest.mark.parametrize("q", ["flooded -(rain AND fashion)", "flooded NOT (rain AND fashion)"])
def test_excluded_words_are_not_highlighted(service: SearchService, q: str) -> None:
    """Excluding "rain and fashion together" keeps storm-lisbon, whose body has "rain": the excluded word is in
    the snippet, and left unmarked."""
    (hit,) = service.search(SearchRequest(q=q)).hits
    assert hit.id == "storm-lisbon"
    body = " ".join(hit.highlights["body"])
    assert "<mark>flooded</mark>" in body and "Heavy rain" in body, body
    assert "<mark>rain</mark>" not in body and body.count("<mark>") == 1, body


def test_hits_carry_entities_and_dates(service: SearchService) -> None:
    hit = service.search(SearchRequest(q='"Belt and Road"')).hits[0]
    assert "Sergey Lavrov" in hit.entities["person"]
    assert "2021-03-22" in hit.dates  # "on Monday", resolved against the publication date (Friday 2021-03-19)
    assert hit.published == "2021-03-19"


# -- documents, similar, entities, stats ---------------------------------------------------------------------
def test_get_document(service: SearchService) -> None:
    record = service.get_document("reports/2021/03/nato")
    assert record is not None and record["title"] == "NATO ministers meet"
    assert service.get_document("missing") is None


def test_similar(service: SearchService) -> None:
    found = service.similar("harbour-b", 5)
    assert found is not None and not found.timed_out
    similar = found.hits
    assert "harbour-b" not in [h["id"] for h in similar]
    assert similar[0]["id"] in {"undated-note", "harbour-a"}
    assert service.similar("missing") is None


def test_entities_autocomplete(service: SearchService) -> None:
    assert service.entities("person", "wa") == [{"name": "Wang Yi", "count": 2}]
    assert service.entities("person", "WANG Y", 1) == [{"name": "Wang Yi", "count": 2}]
    places = service.entities("place", "", 2)
    assert places[0] == {"name": "China", "count": 3}


def test_stats(service: SearchService) -> None:
    stats = service.stats()
    assert stats["documents"] == 8
    assert stats["entities"]["person"] >= 4  # Sergey Lavrov, Wang Yi, Vladimir Putin, Antony Blinken, ...
    assert stats["generation"].startswith("gen-")


def test_missing_index_is_unavailable(tmp_path: Path) -> None:
    svc = make_service(tmp_path / "none")
    with pytest.raises(IndexUnavailableError):
        svc.ready()
    with pytest.raises(IndexUnavailableError):
        svc.search(SearchRequest(q="x"))


# -- caching and index swaps ---------------------------------------------------------------------------------
def test_results_are_cached_per_generation(own_index_dir: Path, tmp_path: Path) -> None:
    svc = make_service(own_index_dir)
    try:
        first = svc.search(SearchRequest(q="zebra"))
        assert first.total == 0
        assert svc.search(SearchRequest(q="zebra")).total == 0
        corpus = write_corpus(
            tmp_path / "more",
            extra=[{"id": "zebra", "title": "Zebra crossing", "body": "A zebra crossing was painted."}],
        )
        build_index(corpus, own_index_dir)
        # refresh_interval is 0: the next request sees the new generation, never the cached answer.
        assert ids(svc.search(SearchRequest(q="zebra"))) == ["zebra"]
    finally:
        svc.close()


def test_requests_running_during_a_swap_finish_on_the_old_index(own_index_dir: Path, tmp_path: Path) -> None:
    svc = make_service(own_index_dir)
    try:
        with svc._use() as (old_view, old_searcher):
            corpus = write_corpus(tmp_path / "more", extra=[{"id": "late", "title": "Late", "body": "Okapi news."}])
            build_index(corpus, own_index_dir)
            assert ids(svc.search(SearchRequest(q="okapi"))) == ["late"]
            # The old view is retired but still open for the request holding it.
            assert old_view.retired
            assert old_searcher.document_number(id="late") is None
            assert old_searcher.stored_fields(old_searcher.document_number(id=SEED_ID))["id"] == SEED_ID
        assert old_view.refs == 0
    finally:
        svc.close()


def test_each_thread_gets_its_own_searcher(service: SearchService) -> None:
    seen = []

    def work() -> None:
        with service._use() as (_, searcher):
            seen.append(id(searcher))
            service.search(SearchRequest(q="China", facets=("place",)))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 3


def test_an_unreadable_generation_is_unavailable_not_a_crash(service: SearchService) -> None:
    service.search(SearchRequest(q="China"))  # the view is open, with this thread's searcher
    view = service._view
    assert view is not None

    def broken() -> None:
        raise FileNotFoundError("segment removed by a newer rebuild")

    view.open_searcher = broken  # type: ignore[method-assign]
    errors: list[Exception] = []

    def other_thread() -> None:  # a thread without a searcher on this view yet
        try:
            service.search(SearchRequest(q="China"))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], IndexUnavailableError)
    assert view.refs == 0


def test_known_documents_are_matched_in_every_segment() -> None:
    """_KnownDocs takes global docnums; each segment's matcher must get its own, shifted by the segment offset."""
    from whoosh import query as wq
    from whoosh.fields import ID, TEXT, Schema
    from whoosh.filedb.filestore import RamStorage

    ix = RamStorage().create_index(Schema(id=ID(stored=True), text=TEXT))
    for batch in (range(0, 5), range(5, 9), range(9, 12)):
        writer = ix.writer()
        for n in batch:
            writer.add_document(id=str(n), text="alpha" if n % 2 else "alpha beta")
        writer.commit(merge=False)
    with ix.searcher() as searcher:
        assert len(searcher.leaf_searchers()) == 3
        wanted = {0, 3, 4, 5, 8, 11}  # global docnums in all three segments
        q = wq.And([wq.Term("text", "alpha"), search_module._KnownDocs(wanted, searcher)])
        assert {hit.docnum for hit in searcher.search(q, limit=None)} == wanted
        q = wq.And([wq.Term("text", "beta"), search_module._KnownDocs(wanted, searcher)])
        assert {searcher.stored_fields(hit.docnum)["id"] for hit in searcher.search(q, limit=None)} == {"0", "4", "8"}


def test_records_keep_aliases_and_mention_offsets(service: SearchService) -> None:
    """Each entity keeps the surface forms it was seen as, and where each mention is (issue 18)."""
    record = service.get_document(SEED_ID)
    assert record is not None
    people = {e["name"]: e for e in record["entities"]["person"]}
    assert set(people["Sergey Lavrov"]["aliases"]) == {"Sergey Lavrov", "Lavrov"}
    places = {e["name"]: e for e in record["entities"]["place"]}
    assert {"U.S.", "US"} <= set(places["United States"]["aliases"])
    for entity in [*people.values(), *places.values()]:
        assert len(entity["spans"]) == entity["mentions"]
        for span in entity["spans"]:
            assert record[span["field"]][span["start"] : span["end"]] == span["text"]
    assert {s["text"] for s in places["United States"]["spans"]} >= {"U.S.", "US"}
    dates = {d["value"]: d for d in record["dates"]}
    monday = dates["2021-03-22"]["spans"][0]
    assert record["body"][monday["start"] : monday["end"]] == "on Monday"


def test_title_offsets_point_into_the_title(service: SearchService) -> None:
    record = service.get_document("wang-alaska")
    assert record is not None
    spans = {e["name"]: e["spans"] for e in record["entities"]["person"]}["Wang Yi"]
    assert {"field": "title", "start": 0, "end": 7, "text": "Wang Yi"} in spans
    assert any(s["field"] == "body" and s["text"] == "Wang Yi" for s in spans)
