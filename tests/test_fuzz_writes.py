"""Property-based fuzzing of the write API through the Flask test client: PUT /documents/<id>, POST /documents (JSON
arrays and NDJSON, good and bad documents mixed) and DELETE /documents/<id>, with a running task writer.

Bodies carry arbitrary JSON, unicode, control characters, huge numbers, wrong types, missing and oversize fields;
ids are odd (slashes, dots, percent signs, RTL marks, 256 characters, integers). The contract:
- never a 5xx; every refusal is a 4xx in the one error shape, with the code its status maps to, the field a
  document's bad field names, the same answer when the request is sent again, and no task stored;
- a batch applies its good documents and reports each bad one by its index and id;
- an accepted document ends up stored as sent and searchable (each good document carries a unique marker word);
  a deleted one is gone;
- no task fails.

Examples are bounded and derandomized so `make test` stays fast and repeatable; SEARCHSVC_FUZZ_EXAMPLES (a
multiplier, default 1) runs more, e.g. `make fuzz`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import string
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from conftest import app_config, fuzz, hit_ids
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from searchsvc.api import write_routes as api_writes
from searchsvc.api.read_schemas import DocumentSchema
from searchsvc.api.write_schemas import TaskResponseSchema
from searchsvc.app import create_app
from searchsvc.errors import CODES

KEY = "admin-fuzz-writes-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
NDJSON = "application/x-ndjson"
MAX_BATCH = 8
MAX_DOCUMENT_BYTES = 3_000
MAX_BODY_BYTES = 60_000
STATS: Counter[str] = Counter()
_markers = itertools.count(1)


# -- the app -------------------------------------------------------------------------------------------------
# Hypothesis reseeds `random`, from which Whoosh names files (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("whoosh_names_from_os_entropy")


@pytest.fixture(scope="module")
def wapp(tmp_path_factory: pytest.TempPathFactory, index_dir: Path) -> Iterator[Flask]:
    """Writes enabled, a running task writer and small limits, on a private copy of the test index; module-scoped,
    as hypothesis needs."""
    target = tmp_path_factory.mktemp("fuzz-writes") / "index"
    shutil.copytree(index_dir, target)
    app = create_app(
        app_config(
            target,
            admin_key=KEY,
            max_batch=MAX_BATCH,
            max_document_bytes=MAX_DOCUMENT_BYTES,
            max_body_bytes=MAX_BODY_BYTES,
        )
    )
    yield app
    api_writes.shutdown(app)
    app.extensions["searchsvc"].service.close()
    print(f"\nwrite fuzz figures: {dict(STATS)}")


@pytest.fixture(scope="module")
def wclient(wapp: Flask) -> FlaskClient:
    return wapp.test_client()


# -- checks --------------------------------------------------------------------------------------------------
def newest_task(client: FlaskClient) -> int:
    queue = client.application.extensions["searchsvc.writes"].queue()
    found = queue.list(limit=1)
    return found[0].id if found else 0


def send(client: FlaskClient, method: str, url: str, **kwargs: Any) -> Any:
    """One request, counted; never a 5xx; a refusal has the one error shape, stores no task and is answered the
    same way when sent again."""
    before = newest_task(client)
    response = client.open(url, method=method, headers=AUTH, **kwargs)
    STATS["requests"] += 1
    STATS[f"{method} {response.status_code}"] += 1
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:500])
    if response.status_code >= 400:
        error = error_of(response)
        assert newest_task(client) == before, "a refused write stored a task"
        again = client.open(url, method=method, headers=AUTH, **kwargs)
        STATS["requests"] += 1
        assert (again.status_code, error_of(again)) == (response.status_code, error), "an unstable answer"
    return response


def error_of(response: Any) -> tuple[str, str | None]:
    """(code, field) of an error answer, after checking the one error shape."""
    assert 400 <= response.status_code < 500, response.status_code
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "request_id"}, error
    assert error["code"] in CODES and CODES[error["code"]] == response.status_code, error
    assert isinstance(error["message"], str) and error["message"] and "Traceback" not in error["message"]
    assert error["field"] is None or isinstance(error["field"], str), error
    return error["code"], error["field"]


def accepted_task(client: FlaskClient, response: Any, waited: bool) -> dict[str, Any]:
    """The finished task of an accepted write (202, or 200 with wait=true), after the writer applied it."""
    assert response.status_code == (200 if waited else 202), response.get_data(as_text=True)[:500]
    assert TaskResponseSchema().validate(response.get_json()) == {}
    task = response.get_json()["task"]
    if not waited:
        assert response.headers["Location"] == f"/tasks/{task['id']}"
        done = client.application.extensions["searchsvc.writes"].queue().wait(task["id"], 60)
        task = done.summary()
    assert task["status"] == "succeeded", task
    return task  # type: ignore[no-any-return]


def doc_url(doc_id: str) -> str:
    return "/documents/" + quote(doc_id, safe="")


def assert_stored(client: FlaskClient, doc: Good) -> None:
    """An accepted document is stored as sent and found by its marker word."""
    if not doc.id.endswith("/similar"):  # GET /documents/x/similar is the similar-documents endpoint
        response = send(client, "GET", doc_url(doc.id))
        assert response.status_code == 200, (doc.id, response.get_data(as_text=True)[:300])
        stored = response.get_json()
        assert DocumentSchema().validate(stored) == {}
        assert stored["id"] == doc.id and stored["body"] == doc.body, (stored, doc)
        if doc.title is not None:
            assert stored["title"] == doc.title
        if doc.published is not None:
            assert stored["published"] == doc.published
    found = send(client, "GET", "/search?" + f"q={doc.marker}&highlight=false")
    assert hit_ids(found.get_json()) == [doc.id], (doc, found.get_json()["hits"][:3])
    STATS["documents verified"] += 1


def assert_gone(client: FlaskClient, doc: Good) -> None:
    if not doc.id.endswith("/similar"):
        assert error_of(send(client, "GET", doc_url(doc.id))) == ("not_found", "doc_id")
    assert send(client, "GET", f"/search?q={doc.marker}").get_json()["total"] == 0


# -- documents -----------------------------------------------------------------------------------------------
@dataclass
class Good:
    """A valid document and what the index must hold for it."""

    id: str
    data: dict[str, Any]  # as sent
    marker: str
    body: str  # as stored: stripped
    title: str | None = None  # as stored, when the document gives one
    published: str | None = None


@dataclass
class Bad:
    """A document the API must refuse, and the fields it may blame (None: the document as a whole)."""

    data: Any
    fields: set[str | None] = field(default_factory=set)


def marker_word() -> str:
    """A word no other document contains: 'zqx', a count in letters, and a final 'q', which no suffix the stemmer
    strips ends with (without it, 'zqxls' and 'zqxl' would both stem to 'zqxl')."""
    n, letters = next(_markers), ""
    while n:
        n, rest = divmod(n, 26)
        letters += string.ascii_lowercase[rest]
    return "zqx" + letters + "q"


SURROGATES = ("Cs",)
text_chars = st.characters(blacklist_categories=SURROGATES)  # control characters included
id_chars = st.characters(blacklist_categories=("Cc", "Cs"))
ODD_IDS = [
    "a/../b",
    ".",
    "..",
    "%00",
    "%2F",
    "x%2Fy",
    "?q=1",
    "#frag",
    "a b",
    "Łódź/北京/🙂",
    "\u202eevil",
    "\ufeffbom",
    "x" * 256,
    "similar",
    "a//b",
    "trailing/",
    "CON",
    "nul",
    "~root",
    "*",
    "id\u00a0nbsp",
]


def routable(doc_id: str) -> bool:
    """Ids that /documents/<path:doc_id> surely carries: not empty, not starting with '/', no newline (the URL
    rule's `.` stops at one)."""
    return bool(doc_id) and not doc_id.startswith("/") and "\n" not in doc_id


def valid_id(doc_id: str) -> bool:
    """What the document schema accepts as an id (documents._check_id), and the URL carries."""
    return (
        routable(doc_id)
        and len(doc_id) <= 256
        and doc_id == doc_id.strip()
        and not any(unicodedata.category(c) in ("Cc", "Cs") for c in doc_id)
    )


good_ids = st.one_of(
    st.text(id_chars, min_size=1, max_size=40).map(str.strip),
    st.sampled_from(ODD_IDS),
).filter(lambda s: s and routable(s) and not s.endswith("/similar"))
finite = st.floats(allow_nan=False, allow_infinity=False)
int64 = st.integers(-(2**63), 2**63 - 1)
json_leaf = st.one_of(st.none(), st.booleans(), int64, finite, st.text(text_chars, max_size=20))
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(text_chars, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KNOWN = {"id", "title", "body", "text", "content", "published", "date", "url", "source", "author", "tags"}


def words(text: str) -> str:
    return " ".join(text.split())


@st.composite
def good_documents(draw: st.DrawFn, doc_id: str | int | None, id_in_body: bool = True) -> Good:
    """A valid document: every optional field absent, null or of an accepted type; the body under any of its
    names, with a unique marker word; unknown fields of any JSON value (ignored)."""
    marker = marker_word()
    before = draw(st.text(text_chars, max_size=150))
    after = draw(st.text(text_chars, max_size=60))
    body = f"{before} {marker} {after}"
    data: dict[str, Any] = {}
    if id_in_body and doc_id is not None:
        data["id"] = doc_id
    data[draw(st.sampled_from(["body", "body", "text", "content"]))] = body
    good = Good(str(doc_id), data, marker, body.strip())
    title = draw(st.one_of(st.none(), st.just("absent"), st.text(text_chars, max_size=40), int64, finite))
    if title != "absent":
        data["title"] = title
        if title is not None and words(str(title)):
            good.title = words(str(title))
    kind = draw(st.sampled_from(["absent", "null", "empty", "date", "datetime", "alias"]))
    day = draw(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
    if kind == "null":
        data["published"] = None
    elif kind == "empty":
        data["published"] = "  "
    elif kind in ("date", "alias"):
        data["published" if kind == "date" else "date"] = day.isoformat()
        good.published = day.isoformat()
    elif kind == "datetime":
        minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
        tz = dt.timezone(dt.timedelta(minutes=minutes))
        data["published"] = dt.datetime.combine(day, dt.time(12, 30), tzinfo=tz).isoformat()
    for name in ("url", "source", "author"):
        value = draw(
            st.one_of(
                st.just("absent"),
                st.none(),
                st.text(text_chars, max_size=30),
                int64 if name != "url" else st.text(max_size=3),
            )
        )
        if value != "absent":
            data[name] = value
    tags = draw(
        st.one_of(
            st.just("absent"),
            st.lists(st.one_of(st.text(text_chars, max_size=10), int64, finite), max_size=4),
            st.text(text_chars, max_size=30),
        )
    )
    if tags != "absent":
        data["tags"] = tags
    for key, value in draw(
        st.dictionaries(st.text(text_chars, max_size=10).filter(lambda k: k not in KNOWN), json_values, max_size=3)
    ).items():
        data[key] = value
    return good


NOT_A_STRING = st.one_of(
    st.booleans(), st.lists(json_leaf, max_size=2), st.dictionaries(st.text(max_size=3), json_leaf, max_size=2)
)
# (field, bad value); None: remove the field. Each breaks the document whatever else it holds.
MUTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "body": st.one_of(
        st.none(),
        st.sampled_from(["", "   ", "\t\n\r\u2003"]),
        NOT_A_STRING,
        int64,
        finite,
        st.integers(1, 3).map(lambda k: "é" * (MAX_DOCUMENT_BYTES // 2 + k)),  # one byte too many, or more
    ),
    "published": st.one_of(
        st.sampled_from(
            [
                "yesterday",
                "2021-02-30",
                "2021-13-01",
                "2021-03-19T25:00",
                "+002021-03-19",
                "2021-03-19T10:00+24:00",
                "20210319x",
                "0000-01-01",
            ]
        ),
        int64,
        NOT_A_STRING.filter(lambda v: v != []),
    ),
    "title": NOT_A_STRING,
    "url": st.one_of(NOT_A_STRING, int64, finite),
    "author": NOT_A_STRING,
    "source": NOT_A_STRING,
    "tags": st.one_of(
        st.booleans(),
        int64,
        st.dictionaries(st.text(max_size=3), json_leaf, min_size=0, max_size=2),
        st.lists(st.one_of(st.none(), st.booleans(), st.lists(json_leaf, max_size=1)), min_size=1, max_size=3),
    ),
}
BAD_IDS = st.one_of(
    st.sampled_from(["", " lead", "trail ", "\ttab", "a\x00b", "a\x7fb", "new\nline", "x" * 257, "\u2028"]),
    st.booleans(),
    finite.filter(lambda f: not f.is_integer()),
    st.just(2**64),  # beyond 64 bits: orjson reads it as a float
    st.lists(json_leaf, max_size=2),
)


@st.composite
def bad_documents(draw: st.DrawFn, doc_id: str) -> Bad:
    """A good document with one field broken (the body dropped, a wrong type, an oversize body, ...)."""
    good = draw(good_documents(doc_id, id_in_body=True))
    data = {k: v for k, v in good.data.items() if k not in ("text", "content")}
    data["body"] = good.body
    name = draw(st.sampled_from(sorted(MUTATIONS)))
    value = draw(MUTATIONS[name])
    if name == "published":
        data.pop("date", None)
    if value is None:
        data.pop(name)
    else:
        data[name] = value
    return Bad(data, {name})


def item_id(item: Any) -> str | None:
    """How a batch reports an item's id: a string or an integer (not a boolean), else null. The server parses
    JSON with orjson, which reads an integer beyond 64 bits as a float: such an id is reported as null (and the
    document refused: "id: must be a string"), where a file holding the same document would load."""
    if not isinstance(item, dict):
        return None
    value = item.get("id")
    if isinstance(value, bool) or (isinstance(value, int) and not -(2**63) <= value < 2**64):
        return None
    return str(value) if isinstance(value, str | int) else None


# -- PUT -----------------------------------------------------------------------------------------------------
@dataclass
class Request:
    url: str
    kwargs: dict[str, Any]
    good: Good | None = None  # must be accepted
    refusal: tuple[int, str, set[str | None]] | None = None  # (status, code, fields it may blame)
    waited: bool = False


REFUSE = 400, "invalid_parameter"


@st.composite
def put_requests(draw: st.DrawFn) -> Request:
    doc_id = draw(good_ids)
    url = doc_url(doc_id)
    case = draw(
        st.sampled_from(
            [
                "good",
                "good",
                "good",
                "bad",
                "bad",
                "id",
                "url_id",
                "not_object",
                "not_json",
                "media",
                "too_large",
                "params",
            ]
        )
    )
    kwargs: dict[str, Any]
    if case == "good":
        in_body = draw(st.booleans())
        good = draw(good_documents(doc_id, id_in_body=in_body))
        waited = draw(st.booleans())
        if waited:
            url += "?wait=true&timeout=30"
        ascii_only = draw(st.booleans())
        raw = json.dumps(good.data, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        content_type = draw(
            st.sampled_from(["application/json", "application/json; charset=utf-8", "application/vnd.searchsvc+json"])
        )
        return Request(url, {"data": raw, "content_type": content_type}, good=good, waited=waited)
    if case == "bad":
        bad = draw(bad_documents(doc_id))
        return Request(url, {"json": bad.data}, refusal=(*REFUSE, bad.fields))
    if case == "id":  # the body's id differs from the URL's
        other = draw(st.one_of(st.text(max_size=10), int64, st.booleans(), finite).filter(lambda v: str(v) != doc_id))
        return Request(url, {"json": {"id": other, "body": "An id that differs."}}, refusal=(*REFUSE, {"id"}))
    if case == "url_id":  # an id the document schema refuses, in the URL
        bad_id = draw(
            st.one_of(
                st.sampled_from([" lead", "trail ", "a\x00b", "\x1bx", "a\tb", "x" * 257]),
                st.text(id_chars, min_size=257, max_size=300).filter(routable),
            )
        )
        return Request(doc_url(bad_id), {"json": {"body": "A bad id."}}, refusal=(*REFUSE, {"id"}))
    if case == "not_object":
        value = draw(st.one_of(st.lists(json_values, max_size=3), json_leaf))
        kwargs = {"data": json.dumps(value), "content_type": "application/json"}
        return Request(url, kwargs, refusal=(*REFUSE, {None}))
    if case == "not_json":
        raw = draw(
            st.one_of(
                st.sampled_from(
                    [
                        b"",
                        b"{",
                        b'{"body": "x"',
                        b"{'body': 'x'}",
                        b'{"body": NaN}',
                        b'{"body": 1e400}',
                        b'{"body": "\\ud800 lone"}',
                        b"\xff\xfe{}",
                        b'{"body": "x"} trailing',
                        b"\x00",
                        b'{"body": "caf\xe9"}',
                        json.dumps({"body": "utf-16"}).encode("utf-16"),
                    ]
                ),
                st.binary(max_size=40).filter(lambda b: not _is_json(b)),
            )
        )
        return Request(url, {"data": raw, "content_type": "application/json"}, refusal=(*REFUSE, {None}))
    if case == "media":
        content_type = draw(
            st.sampled_from(
                [
                    None,
                    "text/plain",
                    "application/xml",
                    "multipart/form-data",
                    "application/x-www-form-urlencoded",
                    NDJSON,
                    "application/jsonx",
                ]
            )
        )
        kwargs = {"data": b'{"body": "right body, wrong type"}'}
        if content_type:
            kwargs["content_type"] = content_type
        return Request(url, kwargs, refusal=(415, "unsupported_media_type", {None}))
    if case == "too_large":
        size = draw(st.integers(MAX_BODY_BYTES + 1, MAX_BODY_BYTES + 5000))
        return Request(url, {"json": {"body": "x" * size}}, refusal=(413, "payload_too_large", {None}))
    query, code, name = draw(st.sampled_from(BAD_PARAMETERS))
    return Request(f"{url}?{query}", {"json": {"body": "Fine body."}}, refusal=(400, code, {name}))


BAD_PARAMETERS = [
    ("wiat=true", "unknown_parameter", "wiat"),
    ("limit=1", "unknown_parameter", "limit"),
    ("wait=maybe", "invalid_parameter", "wait"),
    ("wait=1&wait=0", "invalid_parameter", "wait"),
    ("wait=tr%00ue", "invalid_parameter", "wait"),
    ("timeout=5", "invalid_parameter", "timeout"),
    ("wait=true&timeout=nan", "invalid_parameter", "timeout"),
    ("wait=true&timeout=99", "invalid_parameter", "timeout"),
    ("wait=true&timeout=-1", "invalid_parameter", "timeout"),
]


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


@fuzz(40, HealthCheck.filter_too_much)
@given(request=put_requests())
def test_fuzz_put(wclient: FlaskClient, request: Request) -> None:
    response = send(wclient, "PUT", request.url, **request.kwargs)
    if request.refusal is not None:
        status, code, fields = request.refusal
        assert response.status_code == status, (response.status_code, response.get_json())
        assert error_of(response)[0] == code and error_of(response)[1] in fields, response.get_json()
        STATS["PUT refused as expected"] += 1
        return
    assert request.good is not None
    task = accepted_task(wclient, response, request.waited)
    assert task["details"] == {"id": request.good.id}
    assert task["result"] == {"indexed": 1, "rejected": 0, "errors": []}
    assert_stored(wclient, request.good)


# -- POST ----------------------------------------------------------------------------------------------------
@dataclass
class Batch:
    items: list[Any]
    good: dict[int, Good]  # index -> document, must be applied
    bad: dict[int, str | None]  # index -> the id the task must report it by
    unknown: set[int]  # arbitrary JSON: either, reported consistently


_ids = itertools.count(1)


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """1 to MAX_BATCH items: good documents (odd, unique ids: strings or integers), broken ones, bad ids, values
    that are not objects, and arbitrary JSON."""
    n = draw(st.integers(1, MAX_BATCH))
    batch = Batch([], {}, {}, set())
    for index in range(n):
        kind = draw(st.sampled_from(["good", "good", "bad", "bad_id", "no_id", "not_object", "wild"]))
        unique = next(_ids)
        doc_id: str | int = draw(
            st.one_of(
                good_ids.map(lambda s, u=unique: f"{s[:200]}#{u}"),
                st.just(2**62 + unique),
                st.just(-(10**12) - unique),
            )
        )
        if kind == "good":
            good = draw(good_documents(doc_id))
            batch.items.append(good.data)
            batch.good[index] = good
        elif kind == "bad":
            bad = draw(bad_documents(str(doc_id)))
            batch.items.append(bad.data)
            batch.bad[index] = str(doc_id)
        elif kind == "bad_id":
            value = draw(BAD_IDS)
            item = {"id": value, "body": "A document whose id is wrong."}
            batch.items.append(item)
            batch.bad[index] = item_id(item)
        elif kind == "no_id":
            batch.items.append(draw(st.sampled_from([{"body": "No id."}, {"id": None, "body": "A null id."}])))
            batch.bad[index] = None
        elif kind == "not_object":
            batch.items.append(draw(st.one_of(json_leaf, st.lists(json_leaf, max_size=2))))
            batch.bad[index] = None
        else:
            batch.items.append(draw(json_values))
            batch.unknown.add(index)
    return batch


def check_batch(client: FlaskClient, response: Any, batch: Batch, waited: bool, lines: dict[int, int]) -> None:
    """Good documents applied and searchable; bad ones reported by index and id; nothing else rejected."""
    n = len(batch.items)
    task = accepted_task(client, response, waited)
    details = task["details"]
    assert details["received"] == n and details["accepted"] + details["rejected"] == n, details
    result = task["result"]
    errors = result["errors"]
    assert [e["index"] for e in errors] == sorted({e["index"] for e in errors}), errors  # in order, once each
    assert result["indexed"] == details["accepted"] and result["rejected"] == details["rejected"] == len(errors)
    reported = {e["index"]: e for e in errors}
    for index, expected_id in batch.bad.items():
        assert index in reported, (index, batch.items[index], errors)
        assert reported[index]["id"] == expected_id, (reported[index], batch.items[index])
        assert isinstance(reported[index]["message"], str) and reported[index]["message"]
        if index in lines:
            assert reported[index]["message"].startswith(f"line {lines[index]} is not valid JSON")
    assert not set(reported) & set(batch.good), [reported[i] for i in set(reported) & set(batch.good)]
    for index in batch.unknown & set(reported):
        assert reported[index]["id"] == item_id(batch.items[index])
    STATS["batch items accepted"] += details["accepted"]
    STATS["batch items rejected"] += details["rejected"]
    for good in batch.good.values():
        assert_stored(client, good)


@fuzz(20, HealthCheck.filter_too_much)
@given(batch=batches(), waited=st.booleans(), ascii_only=st.booleans())
def test_fuzz_post_json_batch(wclient: FlaskClient, batch: Batch, waited: bool, ascii_only: bool) -> None:
    raw = json.dumps(batch.items, ensure_ascii=ascii_only).encode()
    url = "/documents?wait=true&timeout=30" if waited else "/documents"
    response = send(wclient, "POST", url, data=raw, content_type="application/json")
    check_batch(wclient, response, batch, waited, {})


@fuzz(12, HealthCheck.filter_too_much)
@given(batch=batches(), data=st.data())
def test_fuzz_post_ndjson_batch(wclient: FlaskClient, batch: Batch, data: Any) -> None:
    """NDJSON: one document a line; blank lines are skipped; a line that is not JSON is reported by its number
    (never valid JSON: it starts with ']')."""
    out: list[str] = []
    lines: dict[int, int] = {}
    items: list[Any] = []
    for index, item in enumerate(batch.items):
        out.extend(data.draw(st.lists(st.sampled_from(["", " ", "\t", "\r"]), max_size=1), label="blank"))
        if data.draw(st.integers(0, 5), label="broken") == 0 and index not in batch.good:
            broken = "]" + data.draw(
                st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=20),
                label="junk",
            )
            out.append(broken)
            lines[index] = len(out)
            batch.bad[index] = None
            batch.unknown.discard(index)
            items.append(broken)
        else:
            out.append(json.dumps(item))
            items.append(item)
    batch.items = items
    response = send(wclient, "POST", "/documents", data="\n".join(out).encode(), content_type=NDJSON)
    check_batch(wclient, response, batch, False, lines)


@fuzz(20, HealthCheck.filter_too_much)
@given(
    case=st.sampled_from(
        [
            "empty",
            "too_many",
            "object",
            "not_json",
            "media",
            "blank_ndjson",
            "ndjson_too_many",
            "too_large",
            "unknown_parameter",
        ]
    ),
    value=json_values,
)
def test_fuzz_post_refused_as_a_whole(wclient: FlaskClient, case: str, value: Any) -> None:
    doc = {"id": "whole", "body": "A fine document in a refused request."}
    expected: tuple[int, str] = REFUSE
    url, kwargs = "/documents", {}
    if case == "empty":
        kwargs = {"json": []}
    elif case == "too_many":
        kwargs, expected = {"json": [doc] * (MAX_BATCH + 1)}, (413, "payload_too_large")
    elif case == "object":
        body = value if not isinstance(value, list) else {"documents": value}
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    elif case == "not_json":
        kwargs = {"data": b"[" + json.dumps(doc).encode(), "content_type": "application/json"}
    elif case == "media":
        kwargs, expected = {"data": json.dumps([doc]), "content_type": "text/csv"}, (415, "unsupported_media_type")
    elif case == "blank_ndjson":
        kwargs = {"data": "\n \n\t\r\n", "content_type": NDJSON}
    elif case == "ndjson_too_many":
        lines = "\n".join(json.dumps(doc) for _ in range(MAX_BATCH + 1))
        kwargs, expected = {"data": lines, "content_type": NDJSON}, (413, "payload_too_large")
    elif case == "too_large":
        kwargs, expected = {"json": [{"id": "big", "body": "x" * MAX_BODY_BYTES}]}, (413, "payload_too_large")
    else:
        url, kwargs, expected = "/documents?id=whole", {"json": [doc]}, (400, "unknown_parameter")
    response = send(wclient, "POST", url, **kwargs)
    assert (response.status_code, error_of(response)[0]) == expected, response.get_json()


# -- DELETE --------------------------------------------------------------------------------------------------
odd_ids = st.one_of(good_ids, st.text(max_size=30), st.sampled_from(["", "/x", "new\nline", "a\x00b", "x" * 300]))


@fuzz(20, HealthCheck.filter_too_much)
@given(doc_id=odd_ids, existing=st.booleans(), waited=st.booleans(), data=st.data())
def test_fuzz_delete(wclient: FlaskClient, doc_id: str, existing: bool, waited: bool, data: Any) -> None:
    """Any id: a document put first is deleted (deleted: 1) and no longer found; an unknown id deletes nothing
    (deleted: 0); an id the URL cannot carry is 404."""
    good = None
    if existing and valid_id(doc_id) and not doc_id.endswith("/similar"):
        good = data.draw(good_documents(doc_id, id_in_body=False), label="existing")
        put = send(wclient, "PUT", doc_url(doc_id) + "?wait=true&timeout=30", json=good.data)
        accepted_task(wclient, put, waited=True)
        assert_stored(wclient, good)
    url = doc_url(doc_id) + ("?wait=true&timeout=30" if waited else "")
    response = send(wclient, "DELETE", url)
    if response.status_code == 404:
        assert not routable(doc_id), doc_id
        assert error_of(response) == ("not_found", None)
        return
    task = accepted_task(wclient, response, waited)
    assert task["kind"] == "delete" and task["details"] == {"id": doc_id}
    if good is not None:
        assert task["result"] == {"deleted": 1}
        assert_gone(wclient, good)
        STATS["documents deleted"] += 1
    else:
        assert task["result"]["deleted"] in (0, 1)


def test_no_task_failed(wclient: FlaskClient) -> None:
    """Whatever the fuzzers above sent, the writer applied every task it accepted. The test sends a put, a batch
    with a bad document and a delete of its own first, so that it has tasks to check when it runs alone."""
    marker = marker_word()
    own = [
        send(wclient, "PUT", doc_url("no-task-failed"), json={"body": f"A document {marker}."}),
        send(wclient, "POST", "/documents", json=[{"id": "no-task-failed-2", "body": "x"}, {"id": "bad"}]),
        send(wclient, "DELETE", doc_url("no-task-failed")),
    ]
    own_ids = [accepted_task(wclient, response, waited=False)["id"] for response in own]
    queue = wclient.application.extensions["searchsvc.writes"].queue()
    newest = queue.list(limit=1)
    assert newest and newest[0].id >= max(own_ids)
    assert queue.wait(newest[0].id, 60).finished
    everything = queue.list(limit=100_000)
    assert set(own_ids) <= {t.id for t in everything} and all(t.finished for t in everything)
    assert [t.summary() for t in queue.list(status="failed", limit=1000)] == []
    assert queue.list(status="enqueued", limit=1000) == queue.list(status="processing", limit=1000) == []
