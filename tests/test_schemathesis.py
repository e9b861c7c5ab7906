"""Schemathesis against the OpenAPI document the app serves (/openapi.json): every operation, reads and writes.

Each operation gets schemathesis' examples, coverage (boundary and schema-violating values) and fuzzing phases,
sent through the WSGI app with the admin key, on a private copy of the test index with a running task writer
(so fuzzed documents are really indexed and later reads see them). A second, smaller run goes over HTTP to
real gunicorn. Checks, for every response: never a 5xx; the status is one the operation documents; the
Content-Type is the documented one; the body validates against the documented schema (responses declare
`additionalProperties: false`, so an undeclared field fails too).

Bounded and seeded: a fixed seed, deterministic generation and no example database, so `make test` sends the
same requests every time. SEARCHSVC_FUZZ_EXAMPLES multiplies the fuzzing phase's examples (`make fuzz`: 20).

Not checked, on purpose (schemathesis' other default checks): positive_data_acceptance and
negative_data_rejection flag the rules an OpenAPI schema cannot state (no control characters in a parameter,
`timeout` only with `wait=true`, a valid ISO date, a parseable query) and the documented leniency of POST
/search (`highlight: 0`); unsupported_method flags PUT/DELETE on /documents/{id}/similar, which are writes of
the document whose id is "{id}/similar" (ids may contain '/'). ignored_auth needs a base URL for its probes,
which an in-process run has not; test_writes.py checks every write refuses a missing or wrong key.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from conftest import FUZZ_SCALE, SEED_ID, app_config
from flask import Flask
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from servers import Server, run_gunicorn

from searchsvc.api import write_routes as api_writes
from searchsvc.app import create_app

SEED = 20260308
KEY = "admin-schemathesis-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Small limits, so the coverage phase's largest documented batch (maxItems) stays cheap to index.
LIMITS: dict[str, Any] = {"max_batch": 20, "max_document_bytes": 100_000, "max_body_bytes": 2_000_000}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
STATS: dict[str, Counter[str]] = {"wsgi": Counter(), "http": Counter()}


def _config(examples: int, coverage: bool) -> Any:
    """Seeded and deterministic, no example database; `examples` per operation in the fuzzing phase. POST /reindex
    rebuilds the index (and blocks the writes queued behind it): a few fuzzed examples and no coverage phase,
    whose cases for `wait` and `timeout` the other writes, which take the same parameters, get."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {"deterministic": True, "database": "none", "max-examples": examples * FUZZ_SCALE},
            "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
            "operations": [
                {
                    "include-path": "/reindex",
                    "generation": {"max-examples": 3 * FUZZ_SCALE},
                    "phases": {"coverage": {"enabled": False}},
                }
            ],
        }
    )


def _served_openapi() -> dict[str, Any]:
    """The document /openapi.json serves with LIMITS. It depends on the settings only, not on the index, so it
    comes from an app on an index directory that does not exist (collection happens before any fixture);
    `test_the_runs_used_the_document_the_apps_serve` checks the fuzzed apps serve the same one."""
    app = create_app(app_config(Path(tempfile.gettempdir()) / "searchsvc-schemathesis-no-index", **LIMITS))
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


OPENAPI = _served_openapi()
schema = schemathesis.openapi.from_dict(OPENAPI, config=_config(examples=25, coverage=True))
http_schema = schemathesis.openapi.from_dict(OPENAPI, config=_config(examples=5, coverage=False))
OPERATIONS = {f"{method.upper()} {path}" for path, item in OPENAPI["paths"].items() for method in item}
# The corpus' ids come from files, which own them (a PUT or DELETE of one is a 409): "api/…" ones are free.
KNOWN_IDS = [SEED_ID, "storm-lisbon", "reports/2021/03/nato", "harbour-a", "undated-note", "api/one", "api/two"]


def _known_ids_too(context: Any, strategy: Any) -> Any:
    """Generated ids name no document: mix in ids of the test corpus, so that a GET of a document or of similar
    ones also answers 200 (with a body to check against its schema), and a PUT or DELETE meets a real one."""
    if "{name}" in context.operation.path:  # an entity page: names the test corpus holds, half the time
        known = st.sampled_from([("person", "Wang Yi"), ("place", "China"), ("org", "NATO")])
        return st.one_of(strategy, known.map(lambda pair: {"kind": pair[0], "name": pair[1]}))
    if "{doc_id}" not in context.operation.path:
        return strategy
    return st.one_of(strategy, st.sampled_from(KNOWN_IDS).map(lambda doc_id: {"doc_id": doc_id}))


def _put_ids_agree(context: Any, case: Any) -> Any:
    """A PUT whose body names another id than its URL is refused (400, field id): make the two agree in half the
    cases, so that generated documents also get in (and are then read, searched, deleted)."""
    body = case.body
    if case.method.upper() == "PUT" and isinstance(body, dict) and "id" in body and isinstance(body["id"], str):
        doc_id = (case.path_parameters or {}).get("doc_id")
        if isinstance(doc_id, str) and len(body["id"]) % 2 == 0:
            # A generated id may be one no URL reaches, or a file-owned one (409), and generated fields are mostly
            # refused by rules the schema cannot express: a quarter of the PUTs send a valid document instead.
            if len(body["id"]) % 4 == 0:
                doc_id = "api/one"
                case.path_parameters = {**(case.path_parameters or {}), "doc_id": doc_id}
                case.body = {"id": doc_id, "title": "Harbour news", "body": "The ferry left the harbour on Monday."}
                return case
            body["id"] = doc_id
    return case


for _schema in (schema, http_schema):
    _schema.hook("before_generate_path_parameters")(_known_ids_too)
    _schema.hook("map_case")(_put_ids_agree)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """POST /documents as NDJSON: a generated string goes as it is (mostly not JSON: every line is reported in
    the task); any other value as one JSON value a line."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return b"".join(json.dumps(item).encode() + b"\n" for item in (value if isinstance(value, list) else [value]))


# Hypothesis reseeds `random`, from which Whoosh names files (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("whoosh_names_from_os_entropy")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What POST /reindex rebuilds from: one short document, so that the many reindex tasks stay quick."""
    folder = tmp_path_factory.mktemp("schemathesis-sources")
    (folder / "reindexed.json").write_text(json.dumps({"id": "reindexed", "body": "A harbour in Lisbon."}))
    return folder


@pytest.fixture(scope="module")
def st_app(tmp_path_factory: pytest.TempPathFactory, index_dir: Path, sources: Path) -> Iterator[Flask]:
    """Writes enabled, a running task writer, sources for /reindex; module-scoped, as hypothesis needs."""
    target = tmp_path_factory.mktemp("schemathesis") / "index"
    shutil.copytree(index_dir, target)
    app = create_app(app_config(target, admin_key=KEY, sources=str(sources), **LIMITS))
    yield app
    api_writes.shutdown(app)
    app.extensions["searchsvc"].service.close()
    print(f"\nschemathesis figures (in process): {dict(STATS['wsgi'])}")


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory, index_dir: Path, sources: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schemathesis-http")
    shutil.copytree(index_dir, folder / "index")
    settings_env = {"admin_key": KEY, "sources": str(sources), **{k: str(v) for k, v in LIMITS.items()}}
    with run_gunicorn(folder / "index", folder / "gunicorn.log", workers=2, **settings_env) as server:
        yield server
    log = server.log.read_text(errors="replace")
    print(f"\nschemathesis figures (gunicorn): {dict(STATS['http'])}")
    assert "Traceback" not in log, log


def _count(stats: Counter[str], case: Any, status: int) -> None:
    stats["requests"] += 1
    stats[str(status)] += 1
    # By the method sent: the coverage phase also tries methods an operation does not have (OPTIONS gets a 200).
    stats[f"{case.method.upper()} {case.operation.path} {status // 100}xx"] += 1


@schema.parametrize()
def test_schemathesis_in_process(case: Any, st_app: Flask) -> None:
    response = case.call_and_validate(app=st_app, headers=AUTH, checks=CHECKS)
    _count(STATS["wsgi"], case, response.status_code)


@http_schema.parametrize()
def test_schemathesis_over_http(case: Any, gunicorn: Server) -> None:
    response = case.call_and_validate(base_url=gunicorn.base, headers=AUTH, checks=CHECKS, timeout=30)
    _count(STATS["http"], case, response.status_code)


def test_the_runs_used_the_document_the_apps_serve(st_app: Flask, gunicorn: Server) -> None:
    served = st_app.test_client().get("/openapi.json").get_json()
    assert json.dumps(served, sort_keys=True) == json.dumps(OPENAPI, sort_keys=True)
    assert json.dumps(gunicorn.get("/openapi.json").json(), sort_keys=True) == json.dumps(OPENAPI, sort_keys=True)


def test_every_operation_was_fuzzed_and_answered_successfully() -> None:
    """The runs above could pass by answering 4xx to everything: every operation must have had a 2xx."""
    stats = STATS["wsgi"]
    if not stats:
        pytest.skip("the schemathesis run did not take place in this session (deselected)")
    assert stats["requests"] >= 20 * len(OPERATIONS), stats
    assert not any(key.startswith("5") for key in stats), stats
    # Either run may miss one: the fuzzed writes and reindexes race the reads (a reindex from `sources` drops the
    # corpus documents whose similar ones a GET asks for), so a 2xx is asked of the two runs together.
    either = STATS["wsgi"] + STATS["http"]
    assert {op for op in OPERATIONS if either[f"{op} 2xx"] == 0} == set(), either
