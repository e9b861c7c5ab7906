"""The write API under real gunicorn: concurrent writes while searching (3 workers), kill -9 of the whole
server with tasks pending, and a reindex under concurrent searches. The tests end by checking that each
acknowledged document is in the index exactly once."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import MODEL, SEED_ID
from doc_examples import console_examples, split_write_section
from servers import ROOT, Server, run_gunicorn, wait_for_refresh, wait_until_dead, worker_pids

from searchsvc.index.indexer import IndexOptions, index_paths
from searchsvc.index.store import IndexStore

KEY = "gunicorn-admin-key-5b8e2d"
AUTH = {"Authorization": f"Bearer {KEY}"}
CORPUS_DOCS = 8
KILL_DOCS = 200
CITIES = ["Lisbon", "Porto", "Oslo", "Nairobi", "Lima", "Hanoi", "Quito", "Tunis"]
PEOPLE = ["Maria Silva", "John Okafor", "Chen Wei", "Ana Torres"]


def make_docs(source: str, count: int) -> list[dict[str, Any]]:
    """Short (one or two sentences) documents with entities and a date, all from one `source`."""
    return [
        {
            "id": f"{source}-{n:04d}",
            "title": f"{source} report {n}",
            "body": f"{PEOPLE[n % 4]} met the harbour council in {CITIES[n % 8]} on Tuesday. "
            f"Ferry fares rose by {n % 9 + 1} percent.",
            "published": f"2021-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "source": source,
        }
        for n in range(count)
    ]


class Tally:
    """Every HTTP answer and failure seen by the client threads."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], requests.Response]) -> requests.Response | None:
        try:
            response = fn()
        except requests.RequestException as exc:
            with self._lock:
                self.failures.append(repr(exc))
            return None
        with self._lock:
            self.statuses[response.status_code] += 1
        return response

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def search_loop(
    server: Server, tally: Tally, stop: threading.Event, queries: list[dict[str, str]], pause: float = 0.02
) -> None:
    """Search until `stop`, pausing a little between requests (like a user; a tight loop of four clients would
    keep both cores of a small CI machine busy and starve the writer's extraction)."""
    session = requests.Session()
    rng = random.Random()
    while not stop.is_set():
        params = rng.choice(queries)
        response = tally.call(lambda p=params: session.get(server.base + "/search", params=p, timeout=30))
        if response is not None and response.status_code != 200:
            with tally._lock:
                tally.failures.append(f"search {params}: {response.status_code} {response.text[:200]}")
        stop.wait(pause)


SEARCHES = [
    {"q": "harbour council"},
    {"q": "ferry", "sort": "-published", "facets": "published,place"},
    {"q": "", "facets": "person", "limit": "20"},
    {"q": '"Belt and Road"'},
    {"q": "Lisbon OR Oslo", "sort": "published"},
]


def post_batch(server: Server, session: requests.Session, docs: list[dict[str, Any]]) -> requests.Response:
    return session.post(server.base + "/documents", json=docs, headers=AUTH, timeout=60)


def wait_for_tasks(server: Server, task_ids: list[int], timeout: float) -> dict[int, dict[str, Any]]:
    """Every task, once all of them finished."""
    deadline = time.monotonic() + timeout
    while True:
        listed = server.get("/tasks", params={"limit": 1000}).json()["tasks"]
        tasks = {t["id"]: t for t in listed if t["id"] in set(task_ids)}
        if len(tasks) == len(task_ids) and all(t["finished_at"] for t in tasks.values()):
            return tasks
        assert time.monotonic() < deadline, Counter(t["status"] for t in tasks.values())
        time.sleep(0.2)


def ids_from_source(server: Server, source: str) -> tuple[int, list[str]]:
    """`total` of a search for the source, and the ids of every hit (paged)."""
    ids: list[str] = []
    total = -1
    while True:
        params = {"q": f"source:{source}", "limit": 100, "offset": len(ids)}
        data = server.get("/search", params=params).json()
        total = data["total"]
        ids.extend(h["id"] for h in data["hits"])
        if not data["hits"] or len(ids) >= total:
            return total, ids


def finished_at(task: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(task["finished_at"].replace("Z", "+00:00")).timestamp()


def test_concurrent_writes_while_searching_lose_nothing(own_index_dir: Path, tmp_path: Path) -> None:
    docs = make_docs("loadtest", 1000)
    batches = [docs[i : i + 5] for i in range(0, 1000, 5)]  # 200 requests of 5
    writes, searches = Tally(), Tally()
    acknowledged: dict[int, list[str]] = {}  # task id -> document ids
    ack_lock = threading.Lock()
    local = threading.local()

    with run_gunicorn(
        own_index_dir, tmp_path / "gunicorn.log", workers=3, admin_key=KEY, refresh_interval="0.5"
    ) as server:

        def send(batch: list[dict[str, Any]]) -> None:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            response = writes.call(lambda: post_batch(server, session, batch))
            if response is not None and response.status_code == 202:
                with ack_lock:
                    acknowledged[response.json()["task"]["id"]] = [d["id"] for d in batch]

        stop = threading.Event()
        searchers = [threading.Thread(target=search_loop, args=(server, searches, stop, SEARCHES)) for _ in range(4)]
        for t in searchers:
            t.start()
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(send, batches))
            sent = time.monotonic() - started
            tasks = wait_for_tasks(server, list(acknowledged), timeout=60)
            applied = time.monotonic() - started
        finally:
            stop.set()
            for t in searchers:
                t.join()

        # Freshness: how soon the workers come to answer from the new index (refresh_interval 0.5 s): 30 fresh
        # answers in a row on new connections. The deadline is for a loaded machine.
        last = max(finished_at(t) for t in tasks.values())
        deadline, streak, stale = time.monotonic() + 60, 0, 0
        while streak < 30:
            assert time.monotonic() < deadline, f"{stale} stale answers, still stale after 60 s"
            fresh = requests.get(server.base + "/search", params={"q": "source:loadtest", "limit": 1}, timeout=10)
            if fresh.json()["total"] == 1000:
                streak += 1
            else:
                streak, stale = 0, stale + 1
        fresh_after = time.time() - last
        wait_for_refresh(last, 0.5)  # and what every worker promises, whichever answers

        total, found = ids_from_source(server, "loadtest")
        stats = server.get("/stats").json()
        log_text = server.log.read_text(errors="replace")

    expected = sorted(i for ids in acknowledged.values() for i in ids)
    duplicates = sum(n - 1 for n in Counter(found).values() if n > 1)
    lost = len(set(expected) - set(found))
    print(
        f"\nwrites: {sum(writes.statuses.values())} requests {dict(writes.statuses)} in {sent:.1f} s, "
        f"all applied after {applied:.1f} s; "
        f"searches: {sum(searches.statuses.values())} {dict(searches.statuses)}; "
        f"documents acknowledged {len(expected)}, found {len(found)}, lost {lost}, duplicates {duplicates}, "
        f"5xx {writes.server_errors + searches.server_errors}, every worker fresh {fresh_after:.1f} s after the last "
        f"task ({stale} stale answers before)"
    )
    assert writes.failures == [] and searches.failures == []
    assert writes.statuses == Counter({202: 200})
    assert writes.server_errors == 0 and searches.server_errors == 0 and searches.statuses[200] > 0
    assert len(expected) == 1000 and {t["status"] for t in tasks.values()} == {"succeeded"}
    assert all(t["result"]["indexed"] == 5 and t["result"]["rejected"] == 0 for t in tasks.values())
    assert total == 1000 and sorted(found) == expected and duplicates == 0 and lost == 0
    assert stats["documents"] == CORPUS_DOCS + 1000
    assert KEY not in log_text  # keys never reach a log, gunicorn's access log included


def _task_statuses(index_dir: Path) -> Counter[str]:
    db = sqlite3.connect(f"file:{index_dir / 'tasks.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        return Counter(status for (status,) in db.execute("SELECT status FROM tasks"))
    finally:
        db.close()


def test_kill_9_with_tasks_pending_loses_and_duplicates_nothing(own_index_dir: Path, tmp_path: Path) -> None:
    docs = make_docs("killtest", KILL_DOCS)
    acknowledged: dict[int, list[str]] = {}
    with run_gunicorn(own_index_dir, tmp_path / "first.log", workers=2, admin_key=KEY) as server:
        session = requests.Session()
        for i in range(0, KILL_DOCS, 5):
            response = post_batch(server, session, docs[i : i + 5])
            assert response.status_code == 202
            acknowledged[response.json()["task"]["id"]] = [d["id"] for d in docs[i : i + 5]]
        # Kill while the writer is applying a batch (it is loading spaCy: a second or two).
        deadline = time.monotonic() + 20
        while _task_statuses(own_index_dir)["processing"] == 0:
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.01)
        workers = worker_pids(server.process.pid)
        assert len(workers) == 2, workers
        os.killpg(server.process.pid, signal.SIGKILL)  # the master and every worker
        server.process.wait()
        wait_until_dead(workers)  # reaped by init, or zombies: either way holding no lock
    at_kill = _task_statuses(own_index_dir)
    assert at_kill["processing"] > 0 and at_kill["enqueued"] + at_kill["processing"] > 0

    with run_gunicorn(own_index_dir, tmp_path / "second.log", workers=2, admin_key=KEY) as server:
        tasks = wait_for_tasks(server, list(acknowledged), timeout=60)
        total, found = ids_from_source(server, "killtest")
        stats = server.get("/stats").json()

    expected = sorted(i for ids in acknowledged.values() for i in ids)
    rerun = sum(1 for t in tasks.values() if t["attempts"] > 1)
    print(
        f"\nat kill -9: {dict(at_kill)}; after restart: {len(found)} of {len(expected)} documents found, "
        f"{len(found) - len(set(found))} duplicates, {rerun} interrupted tasks re-run (attempts 2)"
    )
    assert {t["status"] for t in tasks.values()} == {"succeeded"}
    assert total == KILL_DOCS and sorted(found) == expected
    assert stats["documents"] == CORPUS_DOCS + KILL_DOCS
    # The interrupted tasks say so: they were started twice.
    assert rerun >= at_kill["processing"]


def wait_for_searches(tally: Tally, count: int, timeout: float = 120) -> None:
    """Until `count` searches were answered 200 (a count, not a time: a loaded machine answers fewer a second)."""
    deadline = time.monotonic() + timeout
    while tally.statuses[200] < count:
        assert time.monotonic() < deadline, (dict(tally.statuses), tally.failures[:3])
        time.sleep(0.05)


def test_reindex_under_concurrent_searches(own_index_dir: Path, tmp_path: Path, corpus: Path) -> None:
    searches = Tally()
    with run_gunicorn(
        own_index_dir, tmp_path / "gunicorn.log", workers=2, admin_key=KEY, sources=str(corpus)
    ) as server:
        response = server.get("/stats")
        generation = response.json()["generation"]
        added = requests.put(
            server.base + "/documents/http-doc?wait=true",
            headers=AUTH,
            timeout=30,
            json={"body": "Pangolins were seen near the harbour."},
        )
        assert added.status_code == 200
        stop = threading.Event()
        queries = [*SEARCHES, {"q": "pangolins"}]
        clients = [threading.Thread(target=search_loop, args=(server, searches, stop, queries)) for _ in range(8)]
        for t in clients:
            t.start()
        try:
            wait_for_searches(searches, 25)  # searches running before the reindex starts
            reindex = requests.post(server.base + "/reindex?wait=true&timeout=60", headers=AUTH, timeout=90)
            # ... and on past the swap: until every worker answers from the new generation (new connections, so
            # that each worker answers some), and 25 searches more.
            deadline, streak = time.monotonic() + 60, 0
            while streak < 8:
                assert time.monotonic() < deadline, "a worker still answers from the old generation"
                now = requests.get(server.base + "/stats", timeout=10).json()["generation"]
                streak = streak + 1 if now != generation else 0
            wait_for_searches(searches, searches.statuses[200] + 25)
        finally:
            stop.set()
            for t in clients:
                t.join()
        task = reindex.json()["task"]
        after = server.get("/stats").json()
        pangolins = server.get("/search", params={"q": "pangolins"}).json()
        seed = server.get("/search", params={"q": '"Belt and Road"'}).json()
    print(
        f"\nreindex {task['status']} in {task['result']['seconds'] if task['result'] else '?'} s; "
        f"searches during it: {sum(searches.statuses.values())} {dict(searches.statuses)}, "
        f"failures {len(searches.failures)}"
    )
    assert reindex.status_code == 200 and task["status"] == "succeeded", task
    assert searches.failures == [] and searches.server_errors == 0 and searches.statuses[200] >= 50
    assert after["generation"] != generation and after["documents"] == CORPUS_DOCS + 1
    assert [h["id"] for h in pangolins["hits"]] == ["http-doc"]
    assert [h["id"] for h in seed["hits"]] == [SEED_ID]


def write_api_examples() -> list[tuple[str, str]]:
    """The write API's examples: from the README once its section is there, else from docs/write-api.md."""
    for path in (ROOT / "README.md", ROOT / "docs" / "write-api.md"):
        if path.exists():
            section = split_write_section(path.read_text("utf-8"))[1]
            if section:
                return console_examples(section)
    return []


def test_write_api_examples_print_what_the_docs_show(tmp_path: Path) -> None:
    if not (shutil.which("curl") and shutil.which("jq")):
        pytest.skip("the examples use curl and jq, and one of them is not installed")
    examples = write_api_examples()
    assert len(examples) >= 10
    index_paths([ROOT / "seeds"], IndexStore(tmp_path / "index"), IndexOptions(model=MODEL, workers=1))
    # One worker: an example that searches right after a write answered from the same process.
    with run_gunicorn(
        tmp_path / "index", tmp_path / "gunicorn.log", workers=1, admin_key=KEY, sources=str(ROOT / "seeds")
    ) as server:
        for command, expected in examples:
            command = command.replace("localhost:8000", server.base.removeprefix("http://"))
            result = subprocess.run(
                ["bash", "-c", command],
                capture_output=True,
                text=True,
                timeout=90,
                cwd=ROOT,
                env={**os.environ, "KEY": KEY},
            )
            assert result.stdout.strip() == expected, (command, result.stderr)


def _chunks(lines: list[bytes], size: int = 8192) -> Any:
    """A body sent with Transfer-Encoding: chunked (requests does so for a generator): no Content-Length."""
    data = b"".join(lines)
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_over_the_limit_is_refused_whole(own_index_dir: Path, tmp_path: Path) -> None:
    """Werkzeug's limit on a chunked body stops reading at max_body_bytes without an error: the write was accepted
    with the lines before the cut (documents lost silently). Over the limit, a body is refused however it is sent."""
    limit = 200_000
    lines = [
        (
            f'{{"id": "chunk-{i}", "title": "Chunk {i}", "body": "Harbour report number {i}, ' + "x" * 180 + '"}\n'
        ).encode()
        for i in range(1_500)
    ]
    assert sum(map(len, lines)) > limit
    headers = {**AUTH, "Content-Type": "application/x-ndjson"}
    with run_gunicorn(own_index_dir, tmp_path / "log", workers=1, admin_key=KEY, max_body_bytes=str(limit)) as server:
        over = requests.post(f"{server.base}/documents", data=_chunks(lines), headers=headers, timeout=60)
        assert over.status_code == 413, over.text
        assert over.json()["error"]["code"] == "payload_too_large"
        assert requests.get(f"{server.base}/tasks", timeout=10).json()["tasks"] == []
        under = lines[:500]
        assert sum(map(len, under)) < limit
        ok = requests.post(f"{server.base}/documents?wait=true", data=_chunks(under), headers=headers, timeout=120)
        assert ok.status_code == 200, ok.text
        assert ok.json()["task"]["details"]["received"] == 500
        # Broken chunked framing (a chunk size that is not hex): gunicorn's reader raises, which was a 500.
        broken = _raw(
            server.base,
            b"POST /documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n"
            b"Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"ZZ\r\n{}\r\n0\r\n\r\n",
        )
        assert broken.startswith(b"HTTP/1.1 400 "), broken[:300]
        assert b'"code":"invalid_parameter"' in broken and b"application/json" in broken
        assert len(requests.get(f"{server.base}/tasks", timeout=10).json()["tasks"]) == 1  # the good batch only


def _raw(base: str, request: bytes) -> bytes:
    """The whole answer to bytes sent as they are (requests would frame the body itself)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
