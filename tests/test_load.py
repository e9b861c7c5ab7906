"""Load and faults under real gunicorn (issue #8).

`test_mixed_load_with_writes_and_rebuilds`: 16 keep-alive clients send a fixed number of mixed requests (searches
of every kind, documents, stats, suggestions, writes of every kind) to 3 workers while the index is rebuilt and
swapped, over HTTP (POST /reindex, three times) and by an out-of-process `searchsvc index --rebuild` on the same
directory. Clients done before the last swap go on reading until it. No request may fail, answers that do not
depend on the writes must not change during the swaps, every worker must live to the end, and every acknowledged
write must be visible at the end exactly as last written (the order of the tasks decides), deleted ones gone.

`test_kill_9_of_one_worker_mid_write`: clients write while the worker applying the tasks (the holder of the
index's write lock) is killed with SIGKILL: at a random moment of a batch, and twice between its Whoosh commit and
the tasks being marked done (frozen with SIGSTOP there first), and once a worker that is not writing. gunicorn
replaces them; every acknowledged document must be indexed exactly once, every task must end `succeeded`, and no
5xx is served. A request cut by a kill counts as not acknowledged (its document may or may not be indexed).

tests/test_writes_gunicorn.py has the simpler cases (writes while searching, kill -9 of the whole server,
reindex under searches); these combine them. Workers are found through /proc (children of gunicorn's master),
the writer through /proc/locks (the flock on the index's write.lock).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from conftest import SEED_ID, SMALL_DOCS, app_config
from servers import ROOT, Server, run_gunicorn, wait_for_refresh, worker_pids

from searchsvc.config import load_settings
from searchsvc.index.store import LOCK
from searchsvc.search.service import SearchService

KEY = "load-admin-key-31c9a7"
AUTH = {"Authorization": f"Bearer {KEY}"}
CORPUS_IDS = [SEED_ID, *(d["id"] for d in SMALL_DOCS)]
# Written documents use words, places and a source that the corpus lacks, so that the answers about the corpus
# (INVARIANT below) must not change while they are written.
PLACES = ["Hobart", "Reykjavik", "Valparaiso", "Tromso", "Dunedin"]
KEEPERS = ["Ingrid Holm", "Tane Walker", "Rosa Pinto"]


# -- gunicorn's processes ------------------------------------------------------------------------------------
def lock_holder(index_dir: Path) -> int | None:
    """The pid holding the flock on the index's write lock (the task writer applying tasks), from /proc/locks."""
    try:
        st = os.stat(index_dir / LOCK)
    except FileNotFoundError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()  # "1: FLOCK  ADVISORY  WRITE 27204 fe:00:2231078 0 EOF"; waiters have "->"
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == device:
            return int(parts[4])
    return None


def wait_for_workers(server: Server, count: int, gone: Set[int] = frozenset(), timeout: float = 30) -> set[int]:
    """The workers once there are `count` of them, none of them `gone` (killed: a dying process is listed
    for a moment), and as many new connections to /health were answered."""
    deadline = time.monotonic() + timeout
    while True:
        pids = worker_pids(server.process.pid)
        if len(pids) == count and not pids & gone:
            # gunicorn forks before the app is built: a new worker answers once it has booted.
            if all(requests.get(server.base + "/health", timeout=10).status_code == 200 for _ in range(count)):
                return pids
        assert time.monotonic() < deadline, f"{len(pids)} workers, {count} expected:\n{server.log_tail()}"
        time.sleep(0.2)


# -- the task database ---------------------------------------------------------------------------------------
def task_rows(index_dir: Path, where: str = "1=1") -> list[sqlite3.Row]:
    # Read-write, not mode=ro: a read-only connection cannot recover the WAL index after a kill -9 and may
    # answer "locking protocol" while a stopped worker holds a WAL lock; retried for the same reason.
    for attempt in range(50):
        db = sqlite3.connect(index_dir / "tasks.sqlite", timeout=10)
        db.row_factory = sqlite3.Row
        try:
            columns = "id, kind, status, attempts, result, started_at, finished_at"
            return db.execute(f"SELECT {columns} FROM tasks WHERE {where}").fetchall()
        except sqlite3.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.1)
        finally:
            db.close()
    raise AssertionError("unreachable")


def committed_unfinished(index_dir: Path) -> list[sqlite3.Row]:
    """The tasks being applied whose batch was committed to the index but not yet marked done: a Whoosh
    commit (a new table of contents) after they were claimed, and still `processing`."""
    rows = task_rows(index_dir, "status = 'processing'")
    if not rows:
        return []
    tocs = [p.stat().st_mtime for p in index_dir.glob("gen-*/_MAIN_*.toc") if p.exists()]
    return rows if tocs and max(tocs) > max(r["started_at"] for r in rows) else []


def wait_until_final(index_dir: Path, timeout: float) -> dict[int, sqlite3.Row]:
    """Every task in the database, once none is enqueued or processing."""
    deadline = time.monotonic() + timeout
    while True:
        rows = task_rows(index_dir)
        if all(r["status"] in ("succeeded", "failed") for r in rows):
            return {r["id"]: r for r in rows}
        assert time.monotonic() < deadline, Counter(r["status"] for r in rows)
        time.sleep(0.2)


# -- clients -------------------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What the clients saw: answers by status, failures (exceptions and wrong answers), a count per kind."""

    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    resets: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, response: requests.Response | None, problem: str | None = None) -> None:
        """One request: its answer (None: it raised) and what was wrong with it."""
        with self.lock:
            self.kinds[kind] += 1
            if response is not None:
                self.statuses[response.status_code] += 1
            if problem:
                self.failures.append(f"{kind}: {problem}")

    def fail(self, kind: str, problem: str) -> None:
        """A wrong answer to a request already recorded."""
        with self.lock:
            self.failures.append(f"{kind}: {problem}")

    @property
    def sent(self) -> int:
        return sum(self.kinds.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def doc(doc_id: str, tag: str, rng: random.Random) -> dict[str, Any]:
    """A short document whose title and body say which write made it (`tag`)."""
    n = rng.randrange(1, 40)
    return {
        "id": doc_id,
        "title": f"Quokka log {tag}",
        "body": f"{rng.choice(KEEPERS)} counted {n} quokkas near the lighthouse in {rng.choice(PLACES)}. Entry {tag}.",
        "published": f"2022-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "source": "loadmix",
    }


# Requests whose answer depends on the corpus only: compared with the answer before the load, at every moment.
INVARIANT: list[tuple[str, str, dict[str, Any]]] = [
    ("phrase", "/search", {"q": '"Belt and Road"'}),
    ("terms", "/search", {"q": "harbour ferry", "match": "any"}),
    ("filter", "/search", {"q": "", "place": "Lisbon", "published_from": "2019-01-01"}),
    ("field", "/search", {"q": 'person:"Wang Yi"', "highlight": "false"}),
    ("boolean", "/search", {"q": "NATO OR storm", "sort": "published"}),
    ("typo", "/search", {"q": "harbuor"}),
]
# Requests whose answer changes with the writes: only the status is checked.
MOVING: list[tuple[str, str, dict[str, Any]]] = [
    ("facets", "/search", {"q": "", "facets": "person,place,published", "facet_size": "5", "limit": "1"}),
    ("highlight", "/search", {"q": "quokkas lighthouse", "highlight": "true", "limit": "5"}),
    ("sort", "/search", {"q": "quokka", "sort": "-published", "limit": "20"}),
    ("filter-new", "/search", {"q": "quokkas", "place": "Hobart", "published_to": "2022-06-30"}),
    ("suggest", "/entities", {"type": "place", "prefix": "ho", "limit": "5"}),
    ("suggest", "/entities", {"type": "person", "prefix": "", "limit": "20"}),
    ("stats", "/stats", {}),
    ("health", "/health", {}),
    ("ready", "/ready", {}),
    ("tasks", "/tasks", {"limit": "5"}),
]


def answer_key(path: str, data: dict[str, Any]) -> Any:
    """What must not change in an invariant answer (scores and order may, as the corpus statistics change)."""
    if path == "/search":
        return data["total"], sorted(h["id"] for h in data["hits"]), data.get("suggestion")
    return {k: data[k] for k in ("id", "title", "body", "published")}


@dataclass
class Write:
    task: int
    ids: list[str]
    docs: list[dict[str, Any] | None]  # None: a delete


class MixedClient:
    """One keep-alive client sending `count` requests: mostly reads of every kind, some writes."""

    def __init__(self, number: int, server: Server, tally: Tally, baseline: dict[Any, Any], count: int) -> None:
        self.number = number
        self.server = server
        self.tally = tally
        self.baseline = baseline
        self.count = count
        self.rng = random.Random(number)
        self.session = requests.Session()
        self.writes: list[Write] = []
        self.written: list[str] = []
        self.seq = 0
        self.extra = 0

    def run(self, progress: Callable[[], None], rebuilt: threading.Event, limit: float) -> None:
        """`count` mixed requests; then, if the rebuilds are not all swapped in yet, reads of the corpus until
        they are (at most until the monotonic time `limit`), so that every swap happens under load."""
        try:
            for _ in range(self.count):
                self.one()
                progress()
            while not rebuilt.is_set() and time.monotonic() < limit:
                kind, path, params = self.rng.choice(INVARIANT)
                self.invariant(f"{kind} (after)", path, params)
                self.extra += 1
        finally:
            self.session.close()

    def call(self, kind: str, method: str, path: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, self.server.base + path, timeout=60, **kwargs)
        except requests.RequestException as exc:
            self.tally.record(kind, None, f"{method} {path}: {exc!r}")
            return None
        if response.status_code not in expect:
            self.tally.record(
                kind, response, f"{method} {path} {kwargs.get('params')}: {response.status_code} {response.text[:300]}"
            )
            return None
        self.tally.record(kind, response)
        return response

    def one(self) -> None:
        roll = self.rng.random()
        if roll < 0.1:
            self.write()
        elif roll < 0.40:
            kind, path, params = self.rng.choice(INVARIANT)
            self.invariant(kind, path, params)
        elif roll < 0.52:
            doc_id = self.rng.choice(CORPUS_IDS)
            self.invariant("document", f"/documents/{doc_id}", {})
        elif roll < 0.62:
            if self.written:  # one of ours: there, or not yet, or deleted
                self.call("document-new", "GET", f"/documents/{self.rng.choice(self.written)}", (200, 404))
            else:
                self.call("similar", "GET", f"/documents/{self.rng.choice(CORPUS_IDS)}/similar", (200,))
        elif roll < 0.70:
            params = {"q": "", "sort": "published", "limit": "10", "offset": str(self.rng.randrange(0, 120))}
            self.call("page", "GET", "/search", (200,), params=params)
        elif roll < 0.74:
            body = {"q": "quokkas OR ferry", "person": ["Ingrid Holm"], "facets": ["place"], "limit": 5}
            self.call("post-search", "POST", "/search", (200,), json=body)
        else:
            kind, path, params = self.rng.choice(MOVING)
            self.call(kind, "GET", path, (200,), params=params)

    def invariant(self, kind: str, path: str, params: dict[str, Any]) -> None:
        response = self.call(kind, "GET", path, (200,), params=params)
        if response is None:
            return
        got = answer_key(path, response.json())
        expected = self.baseline[(path, tuple(sorted(params.items())))]
        if got != expected:
            self.tally.fail(kind, f"{path} {params}: {got} while {expected} before the load")

    def new_id(self) -> str:
        if self.rng.random() < 0.3:  # shared by every client: which write is last is decided by the task order
            return f"hot-{self.rng.randrange(12):02d}"
        return f"mix-{self.number:02d}-{self.rng.randrange(40):02d}"

    def write(self) -> None:
        self.seq += 1
        tag = f"{self.number}-{self.seq}"
        roll = self.rng.random()
        if roll < 0.4:
            doc_id = self.new_id()
            docs: list[dict[str, Any] | None] = [doc(doc_id, tag, self.rng)]
            response = self.call("put", "PUT", f"/documents/{doc_id}", (202,), json=docs[0], headers=AUTH)
        elif roll < 0.8:
            ids = list(dict.fromkeys(self.new_id() for _ in range(self.rng.randrange(2, 8))))
            docs = [doc(i, tag, self.rng) for i in ids]
            if self.rng.random() < 0.5:
                response = self.call("post", "POST", "/documents", (202,), json=docs, headers=AUTH)
            else:
                ndjson = "".join(json.dumps(d) + "\n" for d in docs)
                headers = {**AUTH, "Content-Type": "application/x-ndjson"}
                response = self.call("post-ndjson", "POST", "/documents", (202,), data=ndjson, headers=headers)
        else:
            doc_id = self.rng.choice(self.written) if self.written else self.new_id()
            docs = [None]
            response = self.call("delete", "DELETE", f"/documents/{doc_id}", (202,), headers=AUTH)
        if response is None:
            return
        task = response.json()["task"]
        ids = [d["id"] for d in docs if d is not None] or [doc_id]
        if docs != [None] and task["details"].get("accepted", len(ids)) != len(ids):
            self.tally.fail("write", f"task {task['id']} accepted {task['details']} of {len(ids)}")
        self.writes.append(Write(task["id"], ids, docs))
        self.written.extend(i for i, d in zip(ids, docs, strict=True) if d is not None)


def start_cli_rebuild(index_dir: Path, corpus: Path, log: Path) -> subprocess.Popen[bytes]:
    """`searchsvc index --rebuild` in another process, on the served index directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-c",
        "from searchsvc.cli import main; main()",
        "index",
        "--rebuild",
        "--workers",
        "1",
        "--index",
        str(index_dir),
        str(corpus),
    ]
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def final_state(writes: list[Write]) -> dict[str, dict[str, Any] | None]:
    """id -> the document as last written (None: deleted), in task order, which is the order of application."""
    state: dict[str, dict[str, Any] | None] = {}
    for write in sorted(writes, key=lambda w: w.task):
        for doc_id, document in zip(write.ids, write.docs, strict=True):
            state[doc_id] = document
    return state


def search_hits(server: Server, query: str) -> list[tuple[str, str]]:
    """(id, title) of every hit of `query`, paged."""
    hits: list[tuple[str, str]] = []
    while True:
        response = server.get("/search", params={"q": query, "limit": 100, "offset": len(hits)})
        assert response.status_code == 200, (response.status_code, response.text[:500])
        data = response.json()
        hits.extend((h["id"], h["title"]) for h in data["hits"])
        if not data["hits"] or len(hits) >= data["total"]:
            return hits


def settle(server: Server, index_dir: Path, timeout: float) -> dict[int, sqlite3.Row]:
    """Wait until every task is final and every worker answers from the index as it now is: the stats an
    in-process service reads from the index, answered 12 times in a row on new connections (a condition with a
    deadline, for a loaded machine), then refresh_interval after the last task (so every worker, see
    wait_for_refresh)."""
    tasks = wait_until_final(index_dir, timeout)
    final = time.time()
    service = SearchService(load_settings(app_config(index_dir), env={}))
    try:
        now = {key: service.stats()[key] for key in INDEX_STATS}
    finally:
        service.close()
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 12:
        answer = requests.get(server.base + "/stats", timeout=10).json()
        assert time.monotonic() < deadline, (answer, now)
        streak = streak + 1 if {key: answer[key] for key in INDEX_STATS} == now else 0
    wait_for_refresh(final)
    return tasks


# What /stats reads from the index a worker answers from (not its own cache, nor the task queue).
INDEX_STATS = ("documents", "generation", "built_at", "entities")


CLIENTS = 16
REQUESTS_PER_CLIENT = 250
WARM = {"id": "warm-up", "title": "Warm-up", "body": "The lighthouse opened on Monday.", "source": "loadmix"}


def test_mixed_load_with_writes_and_rebuilds(own_index_dir: Path, tmp_path: Path, corpus: Path) -> None:
    tally = Tally()
    done = 0
    done_lock = threading.Lock()
    total = CLIENTS * REQUESTS_PER_CLIENT

    def progress() -> None:
        nonlocal done
        with done_lock:
            done += 1

    with run_gunicorn(
        own_index_dir, tmp_path / "gunicorn.log", workers=3, admin_key=KEY, sources=str(corpus)
    ) as server:
        master = server.process.pid
        workers = wait_for_workers(server, 3)
        generation = server.get("/stats").json()["generation"]
        # A running service: one worker has applied a write (and loaded the spaCy model) before the load.
        warm = requests.put(f"{server.base}/documents/warm-up?wait=true", json=WARM, headers=AUTH, timeout=60)
        assert warm.status_code == 200, warm.text
        baseline = {}
        for _, path, params in INVARIANT:
            baseline[(path, tuple(sorted(params.items())))] = answer_key(path, server.get(path, params=params).json())
        for doc_id in CORPUS_IDS:
            baseline[(f"/documents/{doc_id}", ())] = answer_key("", server.get(f"/documents/{doc_id}").json())

        clients = [MixedClient(n, server, tally, baseline, REQUESTS_PER_CLIENT) for n in range(CLIENTS)]
        rebuilt = threading.Event()
        limit = time.monotonic() + 90
        threads = [threading.Thread(target=c.run, args=(progress, rebuilt, limit)) for c in clients]
        reindex_tasks: list[int] = []
        admin_failures: list[str] = []

        def admin() -> None:
            """Rebuild and swap over HTTP while the clients run: POST /reindex at 2%, 12% and 24% of their
            requests (the writer applies them in turn with the writes, each one a few seconds)."""
            session = requests.Session()
            try:
                for share in (0.02, 0.12, 0.24):
                    while done < share * total and any(t.is_alive() for t in threads):
                        time.sleep(0.05)
                    response = session.post(server.base + "/reindex", headers=AUTH, timeout=30)
                    if response.status_code == 202:
                        reindex_tasks.append(response.json()["task"]["id"])
                    else:
                        admin_failures.append(f"POST /reindex: {response.status_code} {response.text[:300]}")
                for task_id in reindex_tasks:
                    while time.monotonic() < limit:
                        if session.get(f"{server.base}/tasks/{task_id}", timeout=10).json()["task"]["finished_at"]:
                            break
                        time.sleep(0.1)
                cli.wait(timeout=max(1.0, limit - time.monotonic()))
            except (requests.RequestException, subprocess.TimeoutExpired) as exc:
                admin_failures.append(repr(exc))
            finally:
                rebuilt.set()

        # And from another process, as the load starts: `searchsvc index --rebuild` takes the write lock (the
        # writes wait in the queue meanwhile, acknowledged) and swaps its generation in under the searches.
        # Started first, as the task writer holds the lock as long as tasks keep coming.
        wall = time.time()
        cli = start_cli_rebuild(own_index_dir, corpus, tmp_path / "cli.log")
        deadline = time.monotonic() + 30
        while lock_holder(own_index_dir) != cli.pid and cli.poll() is None:
            assert time.monotonic() < deadline, "`searchsvc index` never took the write lock"
            time.sleep(0.02)
        helper = threading.Thread(target=admin)
        started = time.monotonic()
        for t in [*threads, helper]:
            t.start()
        cli_status = cli.wait(timeout=120)
        cli_ended = time.time()
        for t in [*threads, helper]:
            t.join()
        extra = sum(c.extra for c in clients)
        load_seconds = time.monotonic() - started
        load_ended = time.time()
        tasks = settle(server, own_index_dir, timeout=90)
        settled_seconds = time.monotonic() - started

        writes = [w for c in clients for w in c.writes]
        expected = final_state(writes) | {"warm-up": WARM}
        # A new connection per request: every worker answers some.
        seen = {doc_id: requests.get(f"{server.base}/documents/{doc_id}", timeout=10) for doc_id in expected}
        found = [i for i, _ in search_hits(server, "source:loadmix")]
        stats = server.get("/stats").json()
        workers_after = worker_pids(master)
        log_text = server.log.read_text(errors="replace")

    wrong = []
    for doc_id, document in expected.items():
        response = seen[doc_id]
        if document is None:
            if response.status_code != 404:
                wrong.append(f"{doc_id}: deleted, but {response.status_code}")
        elif response.status_code != 200:
            wrong.append(f"{doc_id}: {response.status_code}")
        else:
            got = response.json()
            if any(got[k] != document.get(k) for k in ("title", "body", "published", "source")):
                wrong.append(f"{doc_id}: {got['title']!r}, last written {document['title']!r}")
    live = sorted(i for i, d in expected.items() if d is not None)
    documents_written = sum(1 for w in writes for d in w.docs if d is not None)
    deletes = sum(1 for w in writes if w.docs == [None])
    rebuilds = [tasks[t] for t in reindex_tasks]
    rebuilds_done = sum(1 for r in rebuilds if r["status"] == "succeeded") + (cli_status == 0)
    generations = [json.loads(r["result"])["generation"] for r in rebuilds if r["result"]]
    rebuilt_at = sorted([r["finished_at"] - wall for r in rebuilds] + [cli_ended - wall])
    print(
        f"\n{tally.sent} requests ({total} mixed, {extra} reads after them until the last swap) from {CLIENTS} "
        f"keep-alive clients in {load_seconds:.1f} s "
        f"({tally.sent / load_seconds:.0f}/s), every write applied after {settled_seconds:.1f} s; "
        f"statuses {dict(tally.statuses)}; 5xx {tally.server_errors}; failed {len(tally.failures)}\n"
        f"writes: {len(writes)} acknowledged requests, {documents_written} documents written, {deletes} deletes; "
        f"{len(expected)} ids touched, {len(live)} live at the end, {len(wrong)} not as last written\n"
        f"rebuilds: {rebuilds_done} ({len(rebuilds)} POST /reindex, 1 `searchsvc index --rebuild`), swapped in at "
        f"{', '.join(f'{t:.1f}' for t in rebuilt_at)} s, the clients' last answer at {load_ended - wall:.1f} s\n"
        f"workers {sorted(workers)} -> {sorted(workers_after)}\nby kind: {dict(sorted(tally.kinds.items()))}"
    )
    assert tally.failures == [] and admin_failures == [], (tally.failures[:10], admin_failures)
    assert tally.server_errors == 0 and tally.sent == total + extra
    assert {r["status"] for r in tasks.values()} == {"succeeded"}, [dict(r) for r in tasks.values()][:5]
    assert cli_status == 0, (tmp_path / "cli.log").read_text()[-2000:]
    assert rebuilds_done == 4 and rebuilt.is_set(), "the rebuilds did not end within 90 s"
    # Each rebuild made a new generation, the last one is live (writes since then changed it in place).
    assert len({generation, *generations}) == 4 and stats["generation"] == generations[-1]
    assert wrong == [], wrong[:10]
    assert sorted(found) == live, (len(found), len(live))
    assert stats["documents"] == len(CORPUS_IDS) + len(live)
    assert workers_after == workers, "a worker died or was replaced"
    assert "Traceback" not in log_text, log_text[log_text.index("Traceback") - 500 :][:3000]
    assert KEY not in log_text


# The kills, in order: the worker applying tasks at a random moment of a batch (extraction, most likely), the
# same between its Whoosh commit and the tasks' `succeeded` (the batch is applied twice), a worker that is not
# writing, and the writer between commit and done again.
KILL_PLAN = ("writer, mid-batch", "writer, after its commit", "not the writer", "writer, after its commit")
WRITERS = 4
MAX_WRITES = 300  # per writer: the writers stop once the kills are done, or at this many requests


class Killer:
    """SIGKILLs gunicorn's workers one at a time, and records what each kill interrupted."""

    def __init__(self, server: Server, index_dir: Path, deadline: float) -> None:
        self.server = server
        self.index_dir = index_dir
        self.deadline = deadline
        self.rng = random.Random(7)
        self.workers = wait_for_workers(server, 3)
        self.kills: list[tuple[str, int]] = []  # (what, pid)
        self.interrupted: dict[int, int] = {}  # task id -> its attempts when its writer was killed
        self.committed: set[int] = set()  # tasks whose batch was committed to the index when killed
        self.killed_at: dict[int, float] = {}  # committed task id -> wall time of the SIGKILL

    def check_time(self, waiting_for: str) -> None:
        assert time.monotonic() < self.deadline, (
            f"waited in vain for {waiting_for}; kills so far {self.kills}; the server's log:\n{self.log_tail()}"
        )

    def log_tail(self) -> str:
        """The last lines of gunicorn's log that are not the access log's."""
        lines = self.server.log.read_text(errors="replace").splitlines()
        return "\n".join([line for line in lines if not line.startswith("127.0.0.1 - ")][-20:])

    def writer_warm(self) -> None:
        """Until the writer has applied a batch since the last kill (a new one has loaded the spaCy model)."""
        applied = len(task_rows(self.index_dir, "status = 'succeeded'"))
        while len(task_rows(self.index_dir, "status = 'succeeded'")) == applied:
            self.check_time("a task to succeed")
            time.sleep(0.05)

    def kill(self, what: str) -> None:
        if what == "not the writer":
            time.sleep(0.3)
            pid = self.rng.choice(sorted(self.workers - {lock_holder(self.index_dir)}))
            os.kill(pid, signal.SIGKILL)
        elif what == "writer, mid-batch":
            self.writer_warm()
            time.sleep(self.rng.uniform(0, 0.6))
            while True:
                self.check_time("a worker applying tasks")
                pid = lock_holder(self.index_dir)
                if pid in self.workers and task_rows(self.index_dir, "status = 'processing'"):
                    os.kill(pid, signal.SIGKILL)
                    at_kill = task_rows(self.index_dir, "status = 'processing'")  # nothing changes them now
                    if at_kill:
                        self.interrupted.update((r["id"], r["attempts"]) for r in at_kill)
                        break
                    self.kills.append(("writer, between batches", pid))  # not what was asked: again
                    self.workers = wait_for_workers(self.server, 3, {p for _, p in self.kills})
                    self.writer_warm()
                time.sleep(0.01)
        else:  # after its commit: seen, then frozen (SIGSTOP) and seen again, so the kill lands there
            self.writer_warm()
            while True:
                self.check_time("a batch committed to the index and not yet marked done")
                pid = lock_holder(self.index_dir)
                if pid in self.workers and committed_unfinished(self.index_dir):
                    os.kill(pid, signal.SIGSTOP)
                    at_kill = committed_unfinished(self.index_dir)
                    if at_kill and lock_holder(self.index_dir) == pid:
                        os.kill(pid, signal.SIGKILL)
                        killed_at = time.time()
                        self.interrupted.update((r["id"], r["attempts"]) for r in at_kill)
                        self.committed.update(r["id"] for r in at_kill)
                        self.killed_at.update((r["id"], killed_at) for r in at_kill)
                        break
                    try:
                        os.kill(pid, signal.SIGCONT)  # it marked them done meanwhile: wait for its next commit
                    except ProcessLookupError:  # it died while stopped (seen once): wait for its replacement
                        self.workers = wait_for_workers(self.server, 3, {pid} | {p for _, p in self.kills})
                        self.writer_warm()
                time.sleep(0.002)
        self.kills.append((what, pid))
        self.workers = wait_for_workers(self.server, 3, {p for _, p in self.kills})  # gunicorn replaced it


# What a client sees of a worker killed while it held the connection: reset, or cut in the middle of an answer.
RESET = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


class KillClient:
    """A writer of new documents (each id written once) that tells acknowledged writes from the others."""

    def __init__(self, number: int, server: Server, tally: Tally) -> None:
        self.number = number
        self.server = server
        self.tally = tally
        self.rng = random.Random(100 + number)
        self.acknowledged: dict[str, str] = {}  # id -> title, for writes answered 202
        self.unacknowledged: dict[str, str] = {}  # connection reset: maybe enqueued, maybe not
        self.tasks: list[int] = []

    def run(self, stop: threading.Event) -> None:
        with requests.Session() as session:
            for seq in range(MAX_WRITES):
                if stop.is_set():
                    return
                tag = f"k{self.number}-{seq}"
                ids = [f"kill-{self.number}-{seq}-{k}" for k in range(self.rng.choice([1, 1, 3, 4]))]
                docs = [doc(i, tag, self.rng) | {"source": "killmix"} for i in ids]
                try:
                    if len(docs) == 1:
                        response = session.put(
                            f"{self.server.base}/documents/{ids[0]}", json=docs[0], headers=AUTH, timeout=60
                        )
                    else:
                        response = session.post(f"{self.server.base}/documents", json=docs, headers=AUTH, timeout=60)
                except RESET:  # the worker was killed: the write may or may not be stored
                    with self.tally.lock:
                        self.tally.resets += 1
                    self.unacknowledged.update((d["id"], d["title"]) for d in docs)
                    continue
                except requests.RequestException as exc:
                    self.tally.record("write", None, repr(exc))
                    continue
                if response.status_code == 202:
                    self.tally.record("write", response)
                    self.acknowledged.update((d["id"], d["title"]) for d in docs)
                    self.tasks.append(response.json()["task"]["id"])
                else:
                    self.tally.record("write", response, f"{response.status_code} {response.text[:300]}")
                stop.wait(0.2)


def read_until(server: Server, tally: Tally, stop: threading.Event) -> None:
    """Searches and documents of the corpus until `stop`; a reset connection (a killed worker) is counted."""
    rng = random.Random()
    session = requests.Session()
    while not stop.is_set():
        kind, path, params = rng.choice(INVARIANT)
        try:
            response = session.get(server.base + path, params=params, timeout=30)
        except RESET:
            with tally.lock:
                tally.resets += 1
            session = requests.Session()
            continue
        except requests.RequestException as exc:
            tally.record(kind, None, repr(exc))
            continue
        tally.record(kind, response, None if response.status_code == 200 else f"{response.status_code}")
        stop.wait(0.02)
    session.close()


def test_kill_9_of_one_worker_mid_write(own_index_dir: Path, tmp_path: Path) -> None:
    tally = Tally()
    stop = threading.Event()
    with run_gunicorn(own_index_dir, tmp_path / "gunicorn.log", workers=3, admin_key=KEY) as server:
        master = server.process.pid
        first_workers = wait_for_workers(server, 3)
        warm = {**WARM, "source": "killmix"}
        response = requests.put(f"{server.base}/documents/warm-up?wait=true", json=warm, headers=AUTH, timeout=60)
        assert response.status_code == 200, response.text

        writers = [KillClient(n, server, tally) for n in range(WRITERS)]
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in writers]
        threads += [threading.Thread(target=read_until, args=(server, tally, stop)) for _ in range(2)]
        for t in threads:
            t.start()
        started = time.monotonic()
        killer = Killer(server, own_index_dir, deadline=started + 90)
        try:
            for what in KILL_PLAN:
                killer.kill(what)
        finally:
            stop.set()
            for t in threads:
                t.join()
        kill_seconds = time.monotonic() - started
        tasks = settle(server, own_index_dir, timeout=120)
        settled_seconds = time.monotonic() - started
        hits = search_hits(server, "source:killmix")
        stats = server.get("/stats").json()
        workers_after = worker_pids(master)
        log_text = server.log.read_text(errors="replace")

    acknowledged = {"warm-up": WARM["title"]} | {i: t for w in writers for i, t in w.acknowledged.items()}
    unacknowledged = {i: t for w in writers for i, t in w.unacknowledged.items()}
    found = Counter(i for i, _ in hits)
    duplicates = {i: n for i, n in found.items() if n > 1}
    lost = sorted(set(acknowledged) - set(found))
    unexpected = sorted(set(found) - set(acknowledged) - set(unacknowledged))
    wrong = [(i, t) for i, t in hits if t != acknowledged.get(i, unacknowledged.get(i))]
    acked_tasks = [t for w in writers for t in w.tasks]
    interrupted, kills = killer.interrupted, killer.kills
    rerun = {i: tasks[i]["attempts"] for i in interrupted}
    killed = [pid for _, pid in kills]
    print(
        f"\nkills: {len(kills)} {[kind for kind, _ in kills]} in {kill_seconds:.1f} s; "
        f"{len(interrupted)} tasks interrupted while applied, {len(killer.committed)} of them after their commit "
        f"(attempts then -> at the end: {sorted(set(zip(interrupted.values(), rerun.values(), strict=True)))}); "
        f"every task final after {settled_seconds:.1f} s: {dict(Counter(r['status'] for r in tasks.values()))}\n"
        f"writes: {len(acked_tasks)} acknowledged requests, {len(acknowledged)} documents acknowledged, "
        f"{len(unacknowledged)} unacknowledged (connection reset by the killed worker: counted as not "
        f"acknowledged), of which {len(set(unacknowledged) & set(found))} indexed all the same; "
        f"found {len(hits)}, lost {len(lost)}, duplicates {len(duplicates)}\n"
        f"statuses {dict(tally.statuses)}; 5xx {tally.server_errors}; connections reset {tally.resets}; "
        f"workers {sorted(first_workers)} -> {sorted(workers_after)}"
    )
    assert tally.failures == [] and tally.server_errors == 0, tally.failures[:10]
    # Tasks frozen after their index commit and then killed must run again. (`interrupted` also holds tasks seen
    # `processing` just before a random kill, which may have been marked done in between: racy, not asserted.)
    # One exception: a writer frozen inside SQLite's commit of "done" (the WAL written, its index not yet
    # updated) looks unfinished to readers, and the next connection recovers that commit: such a task is final
    # before the kill, and it is not run again.
    not_rerun = {i for i in killer.committed if rerun[i] <= interrupted[i]}
    assert killer.committed and all(
        tasks[i]["finished_at"] is not None and tasks[i]["finished_at"] <= killer.killed_at[i] for i in not_rerun
    ), (interrupted, rerun, {i: (tasks[i]["finished_at"], killer.killed_at[i]) for i in not_rerun})
    assert {r["status"] for r in tasks.values()} == {"succeeded"}, [dict(r) for r in tasks.values()][:5]
    assert lost == [] and duplicates == {} and unexpected == [] and wrong == [], (lost, duplicates, unexpected, wrong)
    assert stats["documents"] == len(CORPUS_IDS) + len(hits)
    # Resets only on the killed workers' connections: at most one per client per kill.
    assert tally.resets <= len(kills) * len(threads)
    assert len(workers_after) == 3 and not workers_after & set(killed) and master == server.process.pid
    assert log_text.count("SIGKILL") >= len(kills)
    assert "Traceback" not in log_text, log_text[log_text.index("Traceback") - 500 :][:3000]
