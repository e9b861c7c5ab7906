"""The HTTP API: every endpoint, response shapes (checked against their schemas), OpenAPI, auth, CORS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED_ID, assert_error, hit_ids
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from searchsvc.api.read_schemas import (
    DocumentSchema,
    EntitiesResponseSchema,
    EntityPageSchema,
    HealthResponseSchema,
    ReadyResponseSchema,
    SearchResponseSchema,
    SimilarResponseSchema,
    StatsResponseSchema,
)
from searchsvc.writes.tasks import TaskQueue


def ok(response: Any, schema: Any) -> dict[str, Any]:
    """A 200 JSON response whose body has exactly the documented shape."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert schema().validate(data) == {}, schema().validate(data)
    return data  # type: ignore[no-any-return]


# -- search --------------------------------------------------------------------------------------------------
def test_phrase_search(client: FlaskClient) -> None:
    data = ok(client.get("/search", query_string={"q": '"Belt and Road"'}), SearchResponseSchema)
    assert hit_ids(data) == [SEED_ID]
    assert any("<mark>Belt and Road</mark>" in f for f in data["hits"][0]["highlights"]["body"])
    assert data["total"] == 1 and data["total_relation"] == "eq" and data["suggestion"] is None


@pytest.mark.parametrize("q", ["Belt NOT Road", '"Road and Belt"'])
def test_queries_that_must_not_find_the_seed(client: FlaskClient, q: str) -> None:
    data = ok(client.get("/search", query_string={"q": q}), SearchResponseSchema)
    assert SEED_ID not in hit_ids(data)


def test_person_filter_and_facets(client: FlaskClient) -> None:
    data = ok(client.get("/search?person=Sergey%20Lavrov&facets=person,place"), SearchResponseSchema)
    assert hit_ids(data) == [SEED_ID]
    assert {"value": "Wang Yi", "count": 1} in data["facets"]["person"]
    assert {"value": "China", "count": 1} in data["facets"]["place"]


def test_repeated_facets_and_names(client: FlaskClient) -> None:
    data = ok(client.get("/search?facets=person&facets=place&place=China&place=Alaska"), SearchResponseSchema)
    assert set(data["facets"]) == {"person", "place"}
    assert set(hit_ids(data)) == {SEED_ID, "wang-alaska"}


# Whole names, but any name the index knows the person by: the article also writes "Lavrov", never "Sergey".
@pytest.mark.parametrize(("person", "found"), [("sergey lavrov", True), ("Lavrov", True), ("Sergey", False)])
def test_person_names_are_whole_and_case_insensitive(client: FlaskClient, person: str, found: bool) -> None:
    data = ok(client.get("/search", query_string={"person": person}), SearchResponseSchema)
    assert (SEED_ID in hit_ids(data)) is found


def test_entity_field_query(client: FlaskClient) -> None:
    assert hit_ids(ok(client.get("/search?q=entity:lavrov"), SearchResponseSchema)) == [SEED_ID]


def test_did_you_mean(client: FlaskClient) -> None:
    data = ok(client.get("/search?q=Lavorv"), SearchResponseSchema)
    assert "lavrov" in data["suggestion"].lower()


def test_post_json_equals_get(client: FlaskClient) -> None:
    got = ok(client.get("/search?q=China&place=Alaska&facets=place&limit=5"), SearchResponseSchema)
    posted = ok(
        client.post("/search", json={"q": "China", "place": ["Alaska"], "facets": ["place"], "limit": 5}),
        SearchResponseSchema,
    )
    assert hit_ids(got) == hit_ids(posted) and got["facets"] == posted["facets"]
    as_string = ok(
        client.post("/search", json={"q": "China", "place": "Alaska", "facets": "place"}),
        SearchResponseSchema,
    )
    assert hit_ids(as_string) == hit_ids(got)


def test_empty_form_fields_count_as_not_given(client: FlaskClient) -> None:
    data = ok(client.get("/search?q=China&published_from=&sort=&person="), SearchResponseSchema)
    assert data["total"] == 3


@pytest.mark.parametrize(
    ("dates", "same_as"),
    [
        ("published_from=9999-12", "published_from=9999-12-01"),
        ("mentioned_to=9999-12", "mentioned_to=9999-12-31"),
        ("published_from=0001-01&published_to=9999-12", "published_from=0001-01-01&published_to=9999-12-31"),
    ],
)
def test_the_first_and_last_months_a_date_can_hold_are_filters(client: FlaskClient, dates: str, same_as: str) -> None:
    # 9999-12 was a 500: the month's last day was found by stepping into the month after it.
    data = ok(client.get(f"/search?{dates}"), SearchResponseSchema)
    assert data["total"] == ok(client.get(f"/search?{same_as}"), SearchResponseSchema)["total"]


def test_sort_and_pagination(client: FlaskClient) -> None:
    everything = ok(client.get("/search?sort=-published&limit=100"), SearchResponseSchema)
    dated = [h["published"] for h in everything["hits"] if h["published"]]
    assert len(dated) == 7 and dated == sorted(dated, reverse=True)
    data = ok(client.get("/search?sort=-published&limit=2&offset=1"), SearchResponseSchema)
    assert data["limit"] == 2 and data["offset"] == 1 and data["total"] == everything["total"] == 8
    assert hit_ids(data) == hit_ids(everything)[1:3]


# -- documents, similar, entities, stats, health -------------------------------------------------------------
def test_document_with_slashes_in_its_id(client: FlaskClient) -> None:
    data = ok(client.get("/documents/reports/2021/03/nato"), DocumentSchema)
    assert data["id"] == "reports/2021/03/nato"
    assert [e["name"] for e in data["entities"]["place"]] == ["Brussels", "China", "Russia"]


def test_document_escaped_slash(client: FlaskClient) -> None:
    data = ok(client.get("/documents/reports%2F2021%2F03%2Fnato"), DocumentSchema)
    assert data["id"] == "reports/2021/03/nato"


def test_missing_document(client: FlaskClient) -> None:
    assert_error(client.get("/documents/no-such-doc"), 404, "not_found", "doc_id")
    assert_error(client.get("/documents/no-such-doc/similar"), 404, "not_found", "doc_id")


def test_similar(client: FlaskClient) -> None:
    data = ok(client.get("/documents/harbour-b/similar?limit=2"), SimilarResponseSchema)
    assert data["id"] == "harbour-b" and 0 < len(data["hits"]) <= 2


def test_entities(client: FlaskClient) -> None:
    data = ok(client.get("/entities?type=person&prefix=wa&limit=10"), EntitiesResponseSchema)
    assert data["entities"] == [{"name": "Wang Yi", "count": 2}]


def test_entities_autocomplete_and_filters_know_aliases(client: FlaskClient) -> None:
    data = ok(client.get("/entities?type=place&prefix=u.s"), EntitiesResponseSchema)
    assert data["entities"][0]["name"] == "United States"
    canonical = ok(client.get("/search?place=United%20States"), SearchResponseSchema)["total"]
    for written in ("U.S.", "us"):
        assert ok(client.get(f"/search?place={written}"), SearchResponseSchema)["total"] == canonical > 0
    assert ok(client.get("/search?org=NATO"), SearchResponseSchema)["total"] >= 1
    assert ok(client.get("/search?person=nicolas%20maduro"), SearchResponseSchema)["total"] == 1


def test_entity_page(client: FlaskClient) -> None:
    """GET /entities/<type>/<name>: what the archive says of one entity, under any name a document wrote it as."""
    data = ok(client.get("/entities/person/Wang%20Yi"), EntityPageSchema)
    assert (data["type"], data["name"], data["documents"], data["documents_relation"]) == ("person", "Wang Yi", 2, "eq")
    assert [d["id"] for d in data["newest"]] == hit_ids(
        client.get("/search?person=Wang%20Yi&sort=-published").get_json()
    )
    assert data["first_published"] <= data["last_published"]
    assert sum(m["count"] for m in data["months"]) == 2
    assert "Wang Yi" in data["aliases"]
    assert {"name": "China", "count": 2} in data["seen_with"]["place"]
    written = ok(client.get("/entities/place/U.S."), EntityPageSchema)
    assert written["name"] == "United States" and written["documents"] >= 1
    assert ok(client.get("/entities/person/Wang%20Yi?limit=1"), EntityPageSchema)["newest"][:1] == data["newest"][:1]


def test_entity_page_refusals(client: FlaskClient) -> None:
    missing = assert_error(client.get("/entities/person/Wang%20Yu"), 404, "not_found", "name")
    assert "did you mean 'Wang Yi'" in missing["message"]
    assert_error(client.get("/entities/animal/Wang%20Yi"), 400, "invalid_parameter", "type")
    assert_error(client.get("/entities/person/Wang%20Yi?limt=1"), 400, "unknown_parameter", "limt")


def test_document_lists_mentions_with_offsets(client: FlaskClient) -> None:
    data = ok(client.get("/documents/reports/2021/03/nato"), DocumentSchema)
    brussels = data["entities"]["place"][0]
    assert brussels["aliases"] == ["Brussels"]
    span = brussels["spans"][0]
    assert data[span["field"]][span["start"] : span["end"]] == span["text"] == "Brussels"


def test_stats(client: FlaskClient) -> None:
    data = ok(client.get("/stats"), StatsResponseSchema)
    assert data["documents"] == 8
    assert data["segments"] >= 1 and data["size_bytes"] > 0
    assert data["last_commit_at"] and data["built_at"] and data["generation"].startswith("gen-")
    assert data["pending_tasks"] == 0
    assert data["cache"] == {"entries": 0, "capacity": 64}
    client.get("/search?q=harbour")
    assert client.get("/stats").get_json()["cache"]["entries"] == 1


def test_stats_count_pending_tasks(make_app: Any, own_index_dir: Path) -> None:
    client = make_app(own_index_dir).test_client()  # no admin key and no task database: no writer
    TaskQueue(own_index_dir / "tasks.sqlite").enqueue("delete", {"ids": ["nothing"]})
    assert ok(client.get("/stats"), StatsResponseSchema)["pending_tasks"] == 1


def test_health_and_ready(client: FlaskClient) -> None:
    assert ok(client.get("/health"), HealthResponseSchema) == {"status": "ok"}
    # /ready is open to anyone: it says ready and nothing else (counts are in /stats, behind the search key).
    assert ok(client.get("/ready"), ReadyResponseSchema) == {"status": "ready"}


def test_without_an_index_the_app_starts_and_is_not_ready(make_app: Any, tmp_path: Path) -> None:
    client = make_app(tmp_path / "empty").test_client()
    assert client.get("/health").status_code == 200
    assert_error(client.get("/ready"), 503, "index_unavailable")
    assert_error(client.get("/search?q=x"), 503, "index_unavailable")
    assert_error(client.get("/stats"), 503, "index_unavailable")


# -- errors that are routes, not parameters ------------------------------------------------------------------
def test_wrong_method_is_json_405(client: FlaskClient) -> None:
    response = client.delete("/search")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]
    assert_error(client.post("/health"), 405, "method_not_allowed")


# -- OpenAPI -------------------------------------------------------------------------------------------------
def test_openapi_document_is_valid_and_complete(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert set(spec["paths"]) == {
        "/search",
        "/documents/{doc_id}",
        "/documents/{doc_id}/similar",
        "/entities",
        "/entities/{kind}/{name}",
        "/stats",
        "/metrics",
        "/health",
        "/ready",
        "/openapi.json",
        # the write API
        "/documents",
        "/reindex",
        "/tasks",
        "/tasks/{task_id}",
    }
    get_search = spec["paths"]["/search"]["get"]
    names = {p["name"] for p in get_search["parameters"]}
    assert {"q", "person", "facets", "limit", "offset", "published_from", "highlight"} <= names
    assert {"400", "500", "503"} <= set(get_search["responses"])
    assert "415" in spec["paths"]["/search"]["post"]["responses"]
    limit = next(p for p in get_search["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)


def test_every_json_route_and_method_is_in_the_openapi_document(client: FlaskClient) -> None:
    """The document is generated from the routes: a route added without its operation would be missing."""
    spec = client.get("/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routes = set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("api", "writes"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, method) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    assert routes == documented


# -- CORS (the security headers, the search key and CORS are tested in test_security.py) -----------------
def test_cors_preflight_needs_no_key(make_app: Any) -> None:
    client = make_app(cors_origins="*", search_key="s3cret").test_client()
    preflight = client.options(
        "/search", headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert_error(client.get("/search", headers={"Origin": "https://any.example"}), 401, "unauthorized")
