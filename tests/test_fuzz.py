"""Property-based fuzzing of the read API through the Flask test client, on the session index.

Every response must be a 200 whose body loads through its documented response schema, or a documented 4xx
with the one error body; never a 5xx. A fuzzer that only ever reached the validation would prove little about
the searches behind it, so the strategies send valid values three times in four and hostile ones the fourth, and
each test asserts the share of its requests answered 2xx (stated in the test), and that some were refused.
Examples are bounded and derandomized so `make test` stays fast and
repeatable; set SEARCHSVC_FUZZ_EXAMPLES (a multiplier, default 1) for a longer run, e.g. `make fuzz`:

    SEARCHSVC_FUZZ_EXAMPLES=20 python -m pytest tests/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from conftest import app_config, fuzz
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema

from searchsvc.api.read_schemas import (
    DocumentSchema,
    EntitiesResponseSchema,
    SearchResponseSchema,
    SimilarResponseSchema,
)
from searchsvc.app import create_app
from searchsvc.errors import CODES
from searchsvc.search.requests import FACETS, SORTS

STATS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_client(index_dir: Path) -> Iterator[FlaskClient]:
    # Module-scoped: hypothesis runs many examples per test and must not reuse a function-scoped fixture.
    yield create_app(app_config(index_dir)).test_client()
    print(f"\nfuzz figures: {dict(STATS)}")


def check(response: Any, ok_schema: Schema) -> int:
    """The contract: 200 with the documented body, or a 4xx with the one error shape. Never a 5xx. Returns the
    status."""
    STATS["requests"] += 1
    STATS[str(response.status_code)] += 1
    body = response.get_json(silent=True)
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    assert isinstance(body, dict), response.get_data(as_text=True)[:200]
    if response.status_code == 200:
        assert ok_schema.validate(body) == {}, body
        return 200
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "request_id"}
    assert error["code"] in CODES and CODES[error["code"]] == response.status_code, body
    assert isinstance(error["message"], str) and error["message"] and "Traceback" not in error["message"]
    assert error["field"] is None or isinstance(error["field"], str)
    return int(response.status_code)


def assert_mix(statuses: Counter[int], min_success: float) -> None:
    """At least `min_success` of the requests answered 2xx (the searches really ran), and at least one refused (the
    hostile values reached the API)."""
    total = sum(statuses.values())
    succeeded = sum(n for status, n in statuses.items() if 200 <= status < 300)
    assert total > 0
    assert succeeded >= min_success * total, f"{succeeded} of {total} answered 2xx: {dict(statuses)}"
    assert succeeded < total, f"no request was refused: {dict(statuses)}"


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` three times in four, `hostile` the fourth (shrinking towards valid)."""
    return st.integers(1, 4).flatmap(lambda n: hostile if n == 4 else valid)


# -- strategies ----------------------------------------------------------------------------------------------
WORDS = ["harbour", "belt", "Lavrov", "Wang", "Lisbon", "NATO", "storm", "ferry", "the", "and", "Road", "2021"]
OPERATORS = [
    "AND",
    "OR",
    "NOT",
    "+",
    "-",
    "(",
    ")",
    '"',
    "*",
    "?",
    "~",
    "~2",
    "^",
    ":",
    "\\",
    "[",
    "]",
    "{",
    "}",
    "TO",
    "/",
    "'",
    "&&",
    "||",
    "!",
]
VALID_FIELDS = ["title:", "body:", "entity:", "person:", "org:", "place:"]
FIELDS = [*VALID_FIELDS, "published:", "id:", "foo:", "_stored:"]
ODD = ["\x00", "\x01", "\x7f", "\u200b", "\ufeff", "\u202e", "é", "Łódź", "北京", "🙂", "\ud7ff", "\t", "\n", " "]

token = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(OPERATORS),
    st.sampled_from(ODD),
    st.builds(lambda f, w: f + w, st.sampled_from(FIELDS), st.sampled_from(WORDS + ["", "*", '"a b"'])),
    st.builds(lambda w, s: w[: max(1, len(w) // 2)] + s, st.sampled_from(WORDS), st.sampled_from(["*", "?", "~"])),
    st.text(min_size=1, max_size=8),
)
query_text = st.one_of(
    st.lists(token, max_size=12).map(" ".join),
    st.lists(token, max_size=12).map("".join),
    st.text(max_size=40),
    st.sampled_from(["", "*", "a" * 2001, "belt " * 400, "(" * 60 + "belt" + ")" * 60]),
)
number = st.one_of(
    st.integers(-5, 120),
    st.integers(-(10**30), 10**30),
    st.sampled_from([2**31, 2**63, 2**64, 10**12, 10**13, 10_000, 10_001]),
).map(str)
number_text = st.one_of(number, st.sampled_from(["1.5", "1e3", "0x10", " 5", "+5", "٣", "NaN", "", "--1", "5 "]))
date_text = st.one_of(
    st.sampled_from(
        [
            "2021",
            "2021-03",
            "2021-03-18",
            "2021-02-30",
            "2021-13-01",
            "0000",
            "9999-12-31",
            "-1",
            "2021-3-8",
            "2021/03/18",
            "18 March 2021",
            "2021-03-18T10:00",
            "",
        ]
    ),
    st.dates().map(lambda d: d.isoformat()),
    st.from_regex(r"\A[0-9]{1,5}(-[0-9]{1,3}){0,3}\Z"),
    st.text(max_size=12),
)
facet_text = st.one_of(
    st.lists(st.sampled_from([*FACETS, "colour", "", "PERSON", "person "]), max_size=5).map(",".join),
    st.text(max_size=10),
)
entity_text = st.one_of(st.sampled_from(["Wang Yi", "Lisbon", "NATO", "wang yi", ""]), st.text(max_size=20))

PARAM_VALUES: dict[str, st.SearchStrategy[str]] = {
    "q": query_text,
    "match": st.one_of(st.sampled_from(["all", "any", "auto", "ALL", "some"]), st.text(max_size=5)),
    "person": entity_text,
    "org": entity_text,
    "place": entity_text,
    "published_from": date_text,
    "published_to": date_text,
    "mentioned_from": date_text,
    "mentioned_to": date_text,
    "sort": st.one_of(st.sampled_from([*SORTS, "random", "-relevance"]), st.text(max_size=5)),
    "limit": number_text,
    "offset": number_text,
    "facets": facet_text,
    "facet_size": number_text,
    "highlight": st.sampled_from(["true", "false", "1", "0", "yes", "no", "maybe", "", "TRUE"]),
}
# Values the API accepts, so that most of these requests get past validation and run a real search.
VALID_VALUES: dict[str, st.SearchStrategy[str]] = {
    "match": st.sampled_from(["all", "any", "auto"]),
    "person": st.sampled_from(["Wang Yi", "Antony Blinken", "nobody"]),
    "place": st.sampled_from(["Lisbon", "Alaska", "Paris"]),
    "published_from": st.sampled_from(["2019", "2021-03", "2021-03-18", "1900-01-01"]),
    "published_to": st.sampled_from(["2021", "2021-12", "2099-12-31"]),
    "mentioned_from": st.sampled_from(["2020", "2021-03-18"]),
    "sort": st.sampled_from(SORTS),
    "limit": st.sampled_from(["1", "2", "10", "100"]),
    "offset": st.sampled_from(["0", "1", "3", "9999", "10000"]),
    "facets": st.lists(st.sampled_from(FACETS), max_size=3).map(",".join),
    "facet_size": st.sampled_from(["1", "5", "100"]),
    "highlight": st.sampled_from(["true", "false"]),
}
valid_q = st.one_of(
    st.lists(
        st.sampled_from([*WORDS, "-harbour", "+belt", '"harbour ferry"', "harb*", "Lavorv~", "NOT storm"]),
        min_size=1,
        max_size=5,
    ).map(lambda words: " OR ".join(words) if len(words) == 4 else " ".join(words)),
    st.builds(
        lambda f, w, s: f + w[: max(2, len(w) // 2)] + s,
        st.sampled_from(VALID_FIELDS),
        st.sampled_from(WORDS),
        st.sampled_from(["", "*", "?", "~", "~2", "^2"]),
    ),
)
param_name = st.one_of(st.sampled_from(sorted(PARAM_VALUES)), st.sampled_from(["limt", "callback", "", "q[]"]))


@st.composite
def hostile_pairs(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Query-string pairs: known parameters with any value, unknown and repeated ones."""
    names = draw(st.lists(param_name, max_size=6))
    return [(n, draw(PARAM_VALUES.get(n, st.text(max_size=5)))) for n in names]


@st.composite
def valid_pairs(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A query and some other parameters, each with a value the API accepts."""
    names = draw(st.lists(st.sampled_from(sorted(VALID_VALUES)), max_size=5, unique=True))
    return [("q", draw(valid_q)), *((n, draw(VALID_VALUES[n])) for n in names)]


query_pairs = mostly(valid_pairs(), hostile_pairs())


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**25), 10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


@st.composite
def hostile_json_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """POST bodies: known parameters with well- and ill-typed JSON values."""
    body: dict[str, Any] = {}
    for name in draw(st.lists(param_name, max_size=6, unique=True)):
        typed = st.one_of(
            PARAM_VALUES.get(name, st.text(max_size=5)),
            json_scalar,
            st.lists(json_scalar, max_size=3),
            st.lists(PARAM_VALUES.get(name, st.text(max_size=5)), max_size=3),
            st.dictionaries(st.text(max_size=3), json_scalar, max_size=2),
        )
        if name in {"limit", "offset", "facet_size"}:
            typed = st.one_of(typed, st.integers(-(10**20), 10**20))
        body[name] = draw(typed)
    return body


NUMBERS = {"limit", "offset", "facet_size"}


@st.composite
def valid_json_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """POST bodies the API accepts: the valid values, as JSON types (numbers, booleans, lists of names)."""
    body: dict[str, Any] = {"q": draw(valid_q)}
    for name in draw(st.lists(st.sampled_from(sorted(VALID_VALUES)), max_size=5, unique=True)):
        value: Any = draw(VALID_VALUES[name])
        if name in NUMBERS:
            value = int(value)
        elif name == "highlight":
            value = value == "true"
        elif name in ("person", "place") and draw(st.booleans()):
            value = [value]
        body[name] = value
    return body


json_bodies = mostly(valid_json_bodies(), hostile_json_bodies())


KNOWN_IDS = ["storm-lisbon", "reports/2021/03/nato", "000_453fa8f07bc740fc", "harbour-b", "undated-note"]
hostile_doc_id = st.one_of(
    st.sampled_from(
        [
            "storm-lisbon",
            "reports/2021/03/nato",
            "000_453fa8f07bc740fc",
            "../../etc/passwd",
            "..",
            ".",
            "%00",
            "x%00y",
            "..%2f..%2fetc%2fpasswd",
            "a/../b",
            "searchsvc.json",
            "gen-*",
            "\\..\\windows",
            "~root",
            "*",
            "similar",
        ]
    ),
    st.text(min_size=1, max_size=30),
)
doc_id = mostly(st.sampled_from(KNOWN_IDS), hostile_doc_id)


def doc_path(raw: str, safe: str) -> str:
    return quote(raw, safe=safe) or "%20"


# -- tests ---------------------------------------------------------------------------------------------------
# Each test runs its hypothesis examples itself (`run`), so that it can count their answers afterwards.
def test_fuzz_search_get(fuzz_client: FlaskClient) -> None:
    statuses: Counter[int] = Counter()

    @fuzz(150)
    @given(pairs=query_pairs)
    def run(pairs: list[tuple[str, str]]) -> None:
        statuses[check(fuzz_client.get("/search?" + urlencode(pairs)), SearchResponseSchema())] += 1

    run()
    assert_mix(statuses, min_success=0.5)


def test_fuzz_search_post(fuzz_client: FlaskClient) -> None:
    statuses: Counter[int] = Counter()

    @fuzz(100)
    @given(body=json_bodies)
    def run(body: dict[str, Any]) -> None:
        statuses[check(fuzz_client.post("/search", json=body), SearchResponseSchema())] += 1

    run()
    assert_mix(statuses, min_success=0.5)


def test_fuzz_search_post_raw_body(fuzz_client: FlaskClient) -> None:
    statuses: Counter[int] = Counter()
    hostile = st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode))

    @fuzz(50)
    @given(raw=mostly(valid_json_bodies().map(lambda body: json.dumps(body).encode()), hostile))
    def run(raw: bytes) -> None:
        response = fuzz_client.post("/search", data=raw, content_type="application/json")
        statuses[check(response, SearchResponseSchema())] += 1

    run()
    assert_mix(statuses, min_success=0.5)


def test_fuzz_entities(fuzz_client: FlaskClient) -> None:
    statuses: Counter[int] = Counter()

    @fuzz(60)
    @given(
        kind=mostly(st.sampled_from(["person", "org", "place"]), st.text(max_size=6)),
        prefix=mostly(st.sampled_from(["", "w", "wa", "Wang", "l", "Lis", "nato", "zz"]), st.text(max_size=300)),
        limit=mostly(st.integers(1, 100).map(str), number_text),
        extra=mostly(
            st.just([]),
            st.lists(st.tuples(st.sampled_from(["type", "prefix", "limit", "q"]), st.text(max_size=4)), max_size=2),
        ),
    )
    def run(kind: str, prefix: str, limit: str, extra: list[tuple[str, str]]) -> None:
        query = urlencode([("type", kind), ("prefix", prefix), ("limit", limit), *extra])
        statuses[check(fuzz_client.get("/entities?" + query), EntitiesResponseSchema())] += 1

    run()
    assert_mix(statuses, min_success=0.4)


def test_fuzz_document(fuzz_client: FlaskClient) -> None:
    statuses: Counter[int] = Counter()

    @fuzz(60)
    @given(raw=doc_id, safe=st.sampled_from(["", "/", "/%", "/.%"]))
    def run(raw: str, safe: str) -> None:
        statuses[check(fuzz_client.get("/documents/" + doc_path(raw, safe)), DocumentSchema())] += 1

    run()
    assert_mix(statuses, min_success=0.5)


def test_fuzz_similar(fuzz_client: FlaskClient) -> None:
    statuses: Counter[int] = Counter()

    @fuzz(40)
    @given(
        raw=doc_id,
        safe=st.sampled_from(["", "/"]),
        limit=mostly(st.one_of(st.none(), st.integers(1, 100).map(str)), st.one_of(st.none(), number_text)),
    )
    def run(raw: str, safe: str, limit: str | None) -> None:
        url = "/documents/" + doc_path(raw, safe) + "/similar" + ("" if limit is None else "?limit=" + quote(limit))
        statuses[check(fuzz_client.get(url), SimilarResponseSchema())] += 1

    run()
    assert_mix(statuses, min_success=0.4)


def test_fuzz_known_documents_answer(fuzz_client: FlaskClient) -> None:
    """The real ids are found, and a search finds what the corpus holds."""
    assert check(fuzz_client.get("/documents/reports/2021/03/nato"), DocumentSchema()) == 200
    assert check(fuzz_client.get("/documents/storm-lisbon/similar"), SimilarResponseSchema()) == 200
    found = fuzz_client.get("/search?q=harbour&facets=person,place")
    assert check(found, SearchResponseSchema()) == 200 and found.get_json()["total"] >= 2
