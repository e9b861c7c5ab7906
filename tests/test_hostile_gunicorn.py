"""Issue 15's acceptance test: the worst requests of items 1 and 9 (and two hostile documents) sent to real
gunicorn beside ordinary traffic. Throughout, /health and an ordinary search answer within PROBE_BOUND, and each
hostile request finishes within the time bound (query_timeout) plus MARGIN, refused up front or cut short.

The index has a large lexicon (VOCABULARY distinct words), built without spaCy in a few seconds, so that an
unbounded fuzzy term would have a lot to walk."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from servers import Server, run_gunicorn

from searchsvc.documents import document_from_mapping
from searchsvc.extract.types import Extraction
from searchsvc.index.schema import document_fields
from searchsvc.index.store import IndexStore

KEY = "admin-hostile-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DOCS = 1500
VOCABULARY = 30_000
QUERY_TIMEOUT = 1.0  # seconds: the server's SEARCHSVC_QUERY_TIMEOUT
MARGIN = 1.5  # seconds over it allowed to a hostile search (one clock step, JSON, two busy shared cores)
WRITE_BOUND = 5.0  # seconds for a hostile document to be accepted and applied (wait=true&timeout=5: else 202)
PROBE_BOUND = 1.0  # seconds within which /health and an ordinary search must answer, always


def _words(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choices(letters, k=rng.randint(4, 9))))
    return sorted(words)


@pytest.fixture(scope="module")
def vocabulary() -> list[str]:
    return _words(random.Random(15))


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory, vocabulary: list[str]) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "index"
    rng = random.Random(16)
    store = IndexStore(path)
    ix, generation = store.create_generation()
    writer = ix.writer(limitmb=128)
    for i in range(DOCS):
        body = " ".join(rng.choices(vocabulary, k=120)) + ". The harbour ferry left at dawn."
        doc = document_from_mapping({"id": f"d{i}", "title": f"Report {i}", "body": body})
        writer.add_document(**document_fields(doc, Extraction(), path="", content_hash=""))
    writer.commit()
    store.publish(generation)
    return path


@pytest.fixture(scope="module")
def server(hostile_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with run_gunicorn(
        hostile_index, log, workers=2, query_timeout=str(QUERY_TIMEOUT), admin_key=KEY, cache_size="0"
    ) as srv:
        # The writer loads spaCy on its first document: before the clock of any case starts.
        warm = requests.put(
            srv.base + "/documents/warm-up?wait=true&timeout=60",
            json={"body": "A warm-up note."},
            headers=AUTH,
            timeout=90,
        )
        assert warm.status_code == 200, warm.text
        yield srv


def _fuzzy(vocabulary: list[str], n: int, suffix: str) -> str:
    rng = random.Random(n)
    return " ".join(w + suffix for w in rng.sample([w for w in vocabulary if len(w) <= 5], n))


def _hostile(vocabulary: list[str]) -> list[Any]:
    bound = QUERY_TIMEOUT + MARGIN
    search = ("POST", "/search")
    cases = [
        ("10 x word~2/0", search, {"q": _fuzzy(vocabulary, 10, "~2/0")}, {400}, bound),
        ("190 x word~2", search, {"q": _fuzzy(vocabulary, 190, "~2")}, {400}, bound),
        ("20 x word~2 (the most allowed)", search, {"q": _fuzzy(vocabulary, 20, "~2")}, {200}, bound),
        ("100 two-letter prefixes", search, {"q": " ".join(w[:2] + "*" for w in vocabulary[::300])}, {200, 400}, bound),
        ("330 unknown words (did-you-mean)", search, {"q": " ".join(f"zq{i:03d}" for i in range(330))}, {200}, bound),
        ("200,000 person values", search, {"q": "harbour", "person": [f"p{i}" for i in range(200_000)]}, {400}, bound),
    ]
    params = [pytest.param(*case, id=case[0]) for case in cases]
    put = ("PUT", f"/documents/hostile?wait=true&timeout={WRITE_BOUND:g}")
    params += [
        pytest.param(
            "untitled 20,000 characters, no sentence end",
            put,
            {"body": " ".join(random.Random(3).choices(vocabulary, k=3000))[:20_000]},
            {200},
            WRITE_BOUND,
            id="untitled 20,000 characters",
        ),
        pytest.param("20 KB of !", put, {"body": "!" * 20_000}, {200}, WRITE_BOUND, id="20 KB of !"),
    ]
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "request_case" in metafunc.fixturenames:
        cases = _hostile(_words(random.Random(15)))
        metafunc.parametrize(("name", "request_case", "payload", "statuses", "bound"), cases)


class Probe(threading.Thread):
    """/health and an ordinary search, one after the other, until stopped; records the slowest answer."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()
        self.slowest: dict[str, float] = {"health": 0.0, "search": 0.0}
        self.failures: list[str] = []
        self.rounds = 0

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            for name, url in (("health", "/health"), ("search", "/search?q=harbour+ferry")):
                started = time.monotonic()
                try:
                    response = session.get(self.base + url, timeout=5)
                    if response.status_code != 200:
                        self.failures.append(f"{url}: {response.status_code}")
                except requests.RequestException as exc:
                    self.failures.append(f"{url}: {exc}")
                self.slowest[name] = max(self.slowest[name], time.monotonic() - started)
            self.rounds += 1
            time.sleep(0.05)


def test_hostile_requests_beside_ordinary_ones(
    server: Server,
    name: str,
    request_case: tuple[str, str],
    payload: dict[str, Any],
    statuses: set[int],
    bound: float,
) -> None:
    probe = Probe(server.base)
    probe.start()
    time.sleep(0.2)
    method, path = request_case
    durations: list[float] = []
    answers: list[int] = []

    def send() -> None:
        started = time.monotonic()
        response = requests.request(method, server.base + path, json=payload, headers=AUTH, timeout=60)
        durations.append(time.monotonic() - started)
        answers.append(response.status_code)

    try:
        # Two searches at once (both workers busy); one document (it is applied by one writer anyway).
        senders = [threading.Thread(target=send) for _ in range(2 if method == "POST" else 1)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
        time.sleep(0.2)
    finally:
        probe.stop.set()
        probe.join(10)
    assert set(answers) <= statuses and len(answers) == len(senders), (answers, server.log_tail())
    assert max(durations) <= bound, f"{name}: {max(durations):.2f} s > {bound} s"
    assert not probe.failures, probe.failures
    assert probe.rounds >= 2
    assert max(probe.slowest.values()) <= PROBE_BOUND, probe.slowest
