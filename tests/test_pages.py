"""The HTML pages through Flask's test client: what they show, that every value is escaped, their headers, errors
in words, and the search key's cookie. The pure helpers behind them (api/page_views.py) are tested as a table.
(tests/test_pages_browser.py drives the same pages in a real browser.)"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from searchsvc.api.auth import KEY_COOKIE
from searchsvc.api.page_views import (
    MAX_MONTH_BARS,
    PageQuery,
    joined_snippets,
    marked_paragraphs,
    page_numbers,
    safe_snippet,
    safe_url,
    timeline,
    total_text,
)
from searchsvc.api.read_routes import PAGE_SECURITY_HEADERS, SECURITY_HEADERS
from searchsvc.search.service import SearchService


def page(client: FlaskClient, url: str, status: int = 200, **kwargs: Any) -> str:
    response = client.get(url, **kwargs)
    text = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, text[:2000])
    assert response.mimetype == "text/html"
    assert "Traceback" not in text
    return text


def test_search_page_shows_highlighted_hits_facets_timelines_and_chips(client: FlaskClient) -> None:
    html = page(client, "/?q=Lavrov")
    assert "<mark>Lavrov</mark>" in html
    assert re.search(r"\b1 document\b", html)
    assert 'href="/doc/000_453fa8f07bc740fc"' in html
    # The hit's names are chips that add a filter, the facets list names with counts, the bars link to a month.
    assert 'href="/?q=Lavrov&amp;person=Sergey+Lavrov"' in html
    assert '<h2 id="facet-place">Places</h2>' in html
    assert 'href="/?q=Lavrov&amp;published_from=2021-03&amp;published_to=2021-03"' in html
    assert "<svg" in html and "<rect" in html
    assert 'for="q"' in html and 'for="published_from"' in html and 'for="mentioned_to"' in html


def test_active_filters_are_listed_and_removable(client: FlaskClient) -> None:
    html = page(client, "/?q=minister&person=Wang+Yi&published_from=2021-03")
    assert "person: Wang Yi" in html
    assert 'href="/?q=minister&amp;published_from=2021-03"' in html  # removes the person
    assert 'href="/?q=minister&amp;person=Wang+Yi"' in html  # removes the date
    assert '<input type="hidden" name="person" value="Wang Yi">' in html


def test_sort_and_pages(client: FlaskClient) -> None:
    html = page(client, "/?sort=oldest")
    assert '<strong aria-current="true">oldest first</strong>' in html
    assert html.index("Harbour notes") < html.index("Storm hits coast")
    assert 'rel="next"' not in html  # 8 documents, one page
    assert "There are no more results" in page(client, "/?page=5")


def test_total_says_when_it_is_a_lower_bound(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # The page asks for facets, which count every match, so only a search that ran out of time gives a lower bound.
    search = SearchService.search

    def timed_out(self: SearchService, request: Any) -> Any:
        return dataclasses.replace(search(self, request), total=1000, total_relation="gte", timed_out=True)

    monkeypatch.setattr(SearchService, "search", timed_out)
    html = page(client, "/?q=harbour")
    assert "about 1,000+ documents" in html and "took too long" in html
    assert 'rel="next"' in html


def test_did_you_mean_is_a_link_and_empty_results_say_what_to_try(client: FlaskClient) -> None:
    html = page(client, "/?q=Lisbn&place=Paris")
    assert "Did you mean" in html and 'href="/?q=lisbon&amp;place=Paris"' in html
    assert "Things to try" in html and "without the filter" in html


def test_documents_text_is_escaped_everywhere(client: FlaskClient) -> None:
    for url in ("/?q=script", "/?q=alert", "/doc/storm-lisbon", "/entity/place/Lisbon", "/?q=%3Cscript%3E"):
        html = page(client, url)
        assert "<script" not in html.lower(), url
        assert "alert('x')" not in html, url
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page(client, "/doc/storm-lisbon")


def test_document_page_marks_entities_and_dates(client: FlaskClient) -> None:
    html = page(client, "/doc/wang-alaska")
    assert '<a class="m person" href="/entity/person/Wang%20Yi" title="person: Wang Yi">Wang Yi</a>' in html
    assert re.search(r'<time class="m date" datetime="2021-03-18" title="2021-03-18 \(day\)">[^<]*March 18, 2021', html)
    assert "Similar documents" in html


def test_document_page_of_an_id_with_slashes_and_a_missing_one(client: FlaskClient) -> None:
    assert "NATO ministers meet" in page(client, "/doc/reports/2021/03/nato")
    html = page(client, "/doc/nope", 404)
    assert "no document with the id" in html


def test_entity_page(client: FlaskClient) -> None:
    html = page(client, "/entity/person/wang yi")
    assert '<h1 id="entity-h">Wang Yi' in html  # the name as documents write it
    assert re.search(r"Named in <a [^>]*>2 documents</a>", html)
    assert "first published" in html and "Places seen with it" in html
    assert 'href="/entity/place/Alaska"' in html
    assert "No document names" in page(client, "/entity/person/Nobody At All", 404)
    assert "There is no such page" not in page(client, "/entity/thing/x", 404)


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/?q=AND", 400, "That search could not run"),
        ("/?q=%22unclosed", 200, ""),
        ("/?published_from=2021-13", 400, "must be a date like 2021-03-19"),
        ("/?mentioned_from=2022&mentioned_to=2021", 400, "is after"),
        ("/?person=" + "x" * 300, 400, "person"),
        ("/?q=" + "x" * 2100, 400, "Longer than 2000"),
        ("/?page=100000", 200, ""),
        ("/?published_to=9999-12", 200, ""),  # was a 500 (the month after 9999-12 cannot be held)
        ("/?page=2000", 400, "paged up to"),
        ("/?q=a%01b", 400, "control character"),
        ("/?place=a%01b", 400, "control character"),
    ],
)
def test_bad_input_is_explained_in_words(client: FlaskClient, url: str, status: int, words: str) -> None:
    html = page(client, url, status)
    assert words in html
    assert 'id="q"' in html  # the form stays, to fix the query


def test_too_many_names_are_refused_on_a_page_that_stays_small(client: FlaskClient) -> None:
    # Each active filter is a link carrying every other one: 800 names (a 9 KB query string) made a 10 MB page.
    url = "/?" + "&".join(f"person=a{i}" for i in range(800))
    html = page(client, url, 400)
    assert "More than 100 values" in html
    assert html.count('class="chip removable"') == 101
    assert len(html) < 250_000


def test_unexpected_errors_are_words_not_tracebacks(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(SearchService, "get_document", explode)
    html = page(client, "/doc/storm-lisbon", 500)
    assert "Something went wrong" in html and "secret internals" not in html


def test_without_an_index_the_page_says_so(make_app: Any, tmp_path: Any) -> None:
    html = page(make_app(tmp_path).test_client(), "/?q=x", 503)
    assert "not available" in html


def test_pages_have_a_strict_csp_and_the_api_keeps_its_own(client: FlaskClient) -> None:
    for url in ("/", "/?q=AND", "/doc/storm-lisbon", "/doc/nope", "/help", "/key", "/assets/pages.css"):
        with client.get(url) as response:
            for name, value in PAGE_SECURITY_HEADERS.items():
                assert response.headers[name] == value, url
    csp = PAGE_SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe" not in csp and "script-src" not in csp
    for url in ("/search?q=x", "/documents/storm-lisbon", "/nowhere"):
        assert client.get(url).headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def test_no_inline_style_or_script_in_any_page(client: FlaskClient) -> None:
    for url in ("/?q=harbour", "/doc/wang-alaska", "/entity/place/Alaska", "/help", "/key", "/?q=AND"):
        html = page(client, url, 400 if "AND" in url else 200)
        assert "<script" not in html and "style=" not in html and "<style" not in html
        assert not re.search(r"\son\w+=", html), url


# -- the search key ------------------------------------------------------------------------------------------
@pytest.fixture
def keyed(make_app: Any, own_index_dir: Any) -> FlaskClient:
    # Its own index: an app with an admin key opens a task database beside the index it serves.
    return make_app(own_index_dir, search_key="s3cret", admin_key="adm1n").test_client()  # type: ignore[no-any-return]


def test_pages_ask_for_the_key_and_keep_it_in_a_strict_cookie(keyed: FlaskClient) -> None:
    html = page(keyed, "/?q=harbour&place=Lisbon", 401)
    assert 'type="password"' in html and 'name="next" value="/?q=harbour&amp;place=Lisbon"' in html
    with keyed.get("/assets/pages.css") as stylesheet:  # the key form's own stylesheet needs no key
        assert stylesheet.status_code == 200
    wrong = keyed.post("/key", data={"key": "nope", "next": "/"})
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    response = keyed.post("/key", data={"key": "s3cret", "next": "/?q=harbour"})
    assert response.status_code == 303 and response.headers["Location"] == "/?q=harbour"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{KEY_COOKIE}=s3cret;") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "<mark>" in page(keyed, "/?q=harbour")
    assert page(keyed, "/doc/storm-lisbon")
    assert keyed.get("/?q=harbour").headers["Cache-Control"] == "no-store"
    # The JSON API never takes the cookie: only the bearer header.
    assert keyed.get("/search?q=harbour").status_code == 401
    assert keyed.get("/search?q=harbour", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    forget = keyed.post("/key/forget")
    assert forget.status_code == 303 and f"{KEY_COOKIE}=;" in forget.headers["Set-Cookie"]
    page(keyed, "/?q=harbour", 401)


def test_the_admin_key_opens_the_pages_too_but_not_writes_by_cookie(keyed: FlaskClient) -> None:
    assert keyed.post("/key", data={"key": "adm1n"}).status_code == 303
    page(keyed, "/")
    assert keyed.delete("/documents/storm-lisbon").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", ""])
def test_the_key_form_only_goes_back_to_this_server(keyed: FlaskClient, target: str) -> None:
    response = keyed.post("/key", data={"key": "s3cret", "next": target})
    assert response.headers["Location"] == "/"


def test_the_key_form_refuses_other_sites(keyed: FlaskClient) -> None:
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = keyed.post("/key", data={"key": "s3cret"}, headers=headers)
        assert response.status_code == 403 and "Set-Cookie" not in response.headers
    assert keyed.post("/key", data={"key": "s3cret"}, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303


def test_without_a_key_the_pages_are_open(client: FlaskClient) -> None:
    assert "needs no key" in page(client, "/key")


# -- the helpers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("a <mark>b</mark> c", "a <mark>b</mark> c"),
        (
            "&lt;script&gt;alert(1)&lt;/script&gt; <mark>x</mark>",
            "&lt;script&gt;alert(1)&lt;/script&gt; <mark>x</mark>",
        ),  # noqa: E501
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<mark onclick=x>b</mark>", "&lt;mark onclick=x&gt;b"),
        ("<mark>open", "<mark>open</mark>"),
        ("close</mark></mark><mark><mark>x", "close<mark>x</mark>"),
        ("&amp;lt;b&amp;gt;", "&amp;lt;b&amp;gt;"),
        ("\"quoted\" & 'single'", "&#34;quoted&#34; &amp; &#39;single&#39;"),
        ("", ""),
    ],
)
def test_safe_snippet_keeps_only_mark_tags(snippet: str, expected: str) -> None:
    assert str(safe_snippet(snippet)) == expected


def test_joined_snippets_share_their_ellipses() -> None:
    assert str(joined_snippets(["… a <mark>b</mark> …", "… c …"])) == "… a <mark>b</mark> … c …"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com/a", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("data:text/html,x", False),
        ("//example.com", False),
        ("http://[bad", False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, safe: bool) -> None:
    assert (safe_url(url) is not None) == safe


def test_timeline_by_month_with_gaps() -> None:
    facet = [{"value": "2021-03", "count": 4}, {"value": "2020-12", "count": 2}, {"value": "x", "count": 9}]
    t = timeline("published", facet)
    assert t.unit == "month" and [b.period for b in t.bars] == ["2020-12", "2021-03"]
    assert t.first == "2020-12" and t.last == "2021-03" and t.peak == 4 and t.total == 6
    assert t.bars[1].x == pytest.approx(450) and t.bars[1].height == pytest.approx(78)
    assert t.bars[0].height == pytest.approx(39)


def test_timeline_by_year_over_a_long_span() -> None:
    months = [{"value": f"{y}-06", "count": 1} for y in range(1900, 2021, 10)] + [{"value": "2020-01", "count": 2}]
    t = timeline("mentioned", months)
    assert t.unit == "year" and t.bars[-1].period == "2020" and t.bars[-1].count == 3
    assert len(t.bars) == 13 and all(b.width > 0 for b in t.bars)
    far = timeline("mentioned", [{"value": "0001-01", "count": 1}, {"value": "2021-01", "count": 1}])
    assert [b.period for b in far.bars] == ["0001", "2021"] and len(far.bars) <= MAX_MONTH_BARS
    assert timeline("published", []).bars == []


def test_marked_paragraphs() -> None:
    body = "Wang Yi met Wang in Alaska on March 18, 2021.\n\nWang Yiqing <b>is</b> not Wang Yi."
    paragraphs = marked_paragraphs(
        body,
        {"person": [{"name": "Wang Yi"}], "org": [], "place": [{"name": "Alaska"}]},
        [{"value": "2021-03-18", "precision": "day", "text": "March 18, 2021"}],
    )
    assert len(paragraphs) == 2
    marked = [(s.text, s.kind, s.name) for p in paragraphs for s in p if s.kind]
    assert marked == [
        ("Wang Yi", "person", "Wang Yi"),
        ("Alaska", "place", "Alaska"),
        ("March 18, 2021", "date", "2021-03-18"),
        ("Wang Yi", "person", "Wang Yi"),
    ]
    assert "".join(s.text for s in paragraphs[1]) == "Wang Yiqing <b>is</b> not Wang Yi."


def test_page_query_round_trip_and_links() -> None:
    from werkzeug.datastructures import MultiDict

    args = MultiDict([("q", " oil "), ("person", "A"), ("person", "A"), ("person", ""), ("sort", "no"), ("page", "x")])
    query = PageQuery.from_args(args)
    assert query == PageQuery(q="oil", person=("A",))
    assert query.with_entity("person", "a") == query  # already filtered, any case
    assert query.with_entity("place", "Oslo").query_string() == "?q=oil&person=A&place=Oslo"
    assert query.on_page(3).with_sort("oldest").page == 1
    assert query.with_period("published", "2021-03", "2021-03").api_params() == {
        "q": "oil",
        "person": ["A"],
        "published_from": "2021-03",
        "published_to": "2021-03",
    }
    assert PageQuery.from_args(MultiDict([("sort", "newest")])).api_params() == {"q": "", "sort": "-published"}


def test_totals_and_page_numbers() -> None:
    assert total_text(1, "eq") == "1 document"
    assert total_text(1234, "eq") == "1,234 documents"
    assert total_text(1000, "gte") == "about 1,000+ documents"
    assert page_numbers(1, 35, "eq", 10_000) == ([1, 2, 3], True)
    assert page_numbers(4, 35, "eq", 10_000) == ([2, 3, 4], False)
    assert page_numbers(100, 1000, "gte", 10_000) == ([98, 99, 100], True)
