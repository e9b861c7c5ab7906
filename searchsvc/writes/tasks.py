"""Durable write tasks: every write is a row in SQLite before it is acknowledged, applied in order by one
writer.

Whoosh allows one writer at a time, and gunicorn runs several worker processes. Every worker runs a
`TaskWriter` thread, but only the one that takes the index's write lock (the same lock `searchsvc index`
takes) applies tasks. A batch of tasks is applied with one Whoosh commit and then marked done; a crash between
the two re-applies it on restart (its `attempts` count says so), which gives the same index because each
operation is an upsert or a delete by id, applied in the order the tasks were accepted.
"""

from __future__ import annotations

import builtins
import datetime as dt
import errno
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("searchsvc.writes.tasks")

STATUSES = ("enqueued", "processing", "succeeded", "failed")
FINISHED = ("succeeded", "failed")
KINDS = ("documents", "delete", "reindex")
# A task whose application raised this many times is marked failed, so one bad task cannot block the queue.
MAX_ATTEMPTS = 3
# Why a task found `processing` after its writer died for the last time is marked failed.
_KILLED = (
    "the writer stopped while applying this task, {attempts} times (killed, crashed, or too slow for the "
    "worker timeout); it was not applied"
)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        payload TEXT NOT NULL,
        result TEXT,
        error TEXT,
        enqueued_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        details TEXT,
        request_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, id)",
)
# Everything but the payload (which may be megabytes of documents): what get/list/wait read.
_COLUMNS = "id, kind, status, details, result, error, enqueued_at, started_at, finished_at, attempts, request_id"

Outcome = tuple[int, str, "dict[str, Any] | None", "str | None"]  # task id, status, result, error


class StorageFullError(OSError):
    """The disk holding the task database or the index is full."""

    def __init__(self, message: str = "no space left on the device holding the index and its task database"):
        super().__init__(errno.ENOSPC, message)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Task:
    id: int
    kind: str
    status: str
    details: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    enqueued_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    # The documents or ids to apply: loaded only by `claim` (get/list/wait leave it empty).
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    request_id: str | None = None  # of the request that was accepted as this task (its X-Request-Id)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def summary(self) -> dict[str, Any]:
        """What the API shows of a task (the documents themselves are not echoed back)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "enqueued_at": _iso(self.enqueued_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "attempts": self.attempts,
            "details": self.details,
            "result": self.result,
            "error": self.error,
            "request_id": self.request_id,
        }


class UnreadableTaskError(ValueError):
    """A stored task whose payload is not a JSON object (a damaged or hand-edited row): it cannot be applied."""


def _json_or(text: str | None, default: Any, what: str, task_id: int) -> Any:
    """A JSON column's value; `default` (logged) when it is not JSON, so one damaged row cannot break a
    listing of tasks."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        log.warning("task %s: its stored %s is not valid JSON; shown as %r", task_id, what, default)
        return default


def _row_to_task(row: sqlite3.Row) -> Task:
    """A task from its row. Its details and result are shown as empty when damaged; a payload that is not a
    JSON object raises UnreadableTaskError (only `claim` reads payloads)."""
    keys = row.keys()
    details = _json_or(row["details"], {}, "details", row["id"])
    payload: Any = {}
    if "payload" in keys:
        try:
            payload = json.loads(row["payload"])
        except (ValueError, TypeError):
            raise UnreadableTaskError(f"task {row['id']}: its stored payload is not valid JSON") from None
        if not isinstance(payload, dict):
            raise UnreadableTaskError(f"task {row['id']}: its stored payload is not a JSON object")
    return Task(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        details=details if isinstance(details, dict) else {},
        result=_json_or(row["result"], None, "result", row["id"]),
        error=row["error"],
        enqueued_at=row["enqueued_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
        payload=payload,
        request_id=row["request_id"],
    )


def _storage_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


# SQLite errors that clear by themselves: another connection holds the lock past the busy timeout, is
# switching a new database to WAL (answered at once, without the timeout), or is recovering the WAL index of a
# process killed mid-write ("locking protocol", which SQLite does not retry either).
_TRANSIENT = ("locked", "busy", "locking protocol")
BUSY_WAIT = 30.0  # seconds: sqlite3.connect's own timeout, so a crash costs a writer no less patience


def _transient(exc: sqlite3.OperationalError) -> bool:
    return any(word in str(exc).lower() for word in _TRANSIENT)


def _retrying(work: Callable[[], T], wait: float = BUSY_WAIT) -> T:
    """`work()` retried while SQLite answers a transient error, until `wait` seconds have passed. Each attempt
    is one transaction or autocommit statement, so a failed attempt has changed nothing."""
    deadline = time.monotonic() + wait
    delay = 0.005
    while True:
        try:
            return work()
        except sqlite3.OperationalError as exc:
            if not _transient(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _use_wal(db: sqlite3.Connection) -> None:
    _retrying(lambda: db.execute("PRAGMA journal_mode=WAL"))


def counts_at(path: Path | str) -> dict[str, int]:
    """Tasks by status in the queue at `path`, read without opening it as a queue (no schema transaction): what a
    scrape or /stats reads, beside the writer. Every status is present; an absent database counts nothing."""
    counts = dict.fromkeys(STATUSES, 0)
    if not Path(path).exists():
        return counts

    def read() -> list[sqlite3.Row]:
        db = sqlite3.connect(path, timeout=BUSY_WAIT, isolation_level=None)
        try:
            return db.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall()
        finally:
            db.close()

    try:
        rows = _retrying(read)
    except sqlite3.OperationalError as exc:  # "no such table": created but not yet set up
        if "no such table" in str(exc):
            return counts
        raise
    counts.update({status: n for status, n in rows})
    return counts


class TaskQueue:
    """The task table in `<index_dir>/tasks.sqlite` (WAL, synchronous=FULL: a committed enqueue survives
    kill -9 and power loss). Each method opens its own connection, so one queue object serves all threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            _use_wal(db)
            # Every gunicorn worker opens the queue at once when it boots: one transaction at a time.
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            columns = {r["name"] for r in db.execute("PRAGMA table_info(tasks)")}
            if "details" not in columns:  # databases from before the column existed
                db.execute("ALTER TABLE tasks ADD COLUMN details TEXT")
            if "request_id" not in columns:
                db.execute("ALTER TABLE tasks ADD COLUMN request_id TEXT")
            db.execute("COMMIT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.OperationalError as exc:
            if _storage_full(exc):
                raise StorageFullError() from None
            raise
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA synchronous=FULL")
            yield db
        except (sqlite3.OperationalError, OSError) as exc:
            if _storage_full(exc):
                raise StorageFullError() from None
            raise
        finally:
            db.close()

    def _read(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        def run() -> list[sqlite3.Row]:
            with self._connect() as db:
                return db.execute(sql, args).fetchall()

        return _retrying(run)

    def enqueue(
        self, kind: str, payload: dict[str, Any], details: dict[str, Any] | None = None, request_id: str | None = None
    ) -> Task:
        """Store a task durably (committed and synced when this returns) and return it."""
        if kind not in KINDS:
            raise ValueError(f"unknown task kind {kind!r}")
        details = details or {}
        now = time.time()

        def insert() -> int:
            with self._connect() as db:
                cur = db.execute(
                    "INSERT INTO tasks (kind, status, payload, details, enqueued_at, request_id)"
                    " VALUES (?, 'enqueued', ?, ?, ?, ?)",
                    (
                        kind,
                        json.dumps(payload, ensure_ascii=False),
                        json.dumps(details, ensure_ascii=False),
                        now,
                        request_id,
                    ),
                )
                return int(cur.lastrowid or 0)

        task_id = _retrying(insert)
        return Task(task_id, kind, "enqueued", details, None, None, now, None, None, 0, payload, request_id)

    def get(self, task_id: int) -> Task | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return _row_to_task(rows[0]) if rows else None

    def list(self, status: str | None = None, limit: int = 100, before: int | None = None) -> list[Task]:
        """Newest first; `before` (a task id) pages back."""
        sql, args = f"SELECT {_COLUMNS} FROM tasks WHERE 1=1", builtins.list[Any]()
        if status:
            sql += " AND status = ?"
            args.append(status)
        if before is not None:
            sql += " AND id < ?"
            args.append(before)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [_row_to_task(r) for r in self._read(sql, args)]

    def pending_count(self) -> int:
        return int(self._read("SELECT count(*) FROM tasks WHERE status IN ('enqueued', 'processing')")[0][0])

    def counts(self) -> dict[str, int]:
        """Tasks by status."""
        rows = self._read("SELECT status, count(*) AS n FROM tasks GROUP BY status")
        return {status: 0 for status in STATUSES} | {r["status"]: r["n"] for r in rows}

    def claim(
        self, max_documents: int = 2000, max_tasks: int = 500, max_attempts: int = MAX_ATTEMPTS
    ) -> builtins.list[Task]:
        """The oldest unfinished tasks, in order, marked processing, their `attempts` counting this one. Only
        the holder of the index's write lock may call this, so a task found `processing` was being applied
        when its writer died (a crash, a kill by gunicorn's timeout, a power cut): it is claimed again first,
        and alone, so that a task that kills its writer cannot take the tasks batched with it down too; once
        it has been tried `max_attempts` times it is marked failed instead, and the tasks after it are
        applied. A row that cannot be read is marked failed too. A reindex task is claimed alone."""

        def take() -> tuple[builtins.list[Task], float]:
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")
                rows = db.execute(
                    "SELECT * FROM tasks WHERE status IN ('enqueued', 'processing') ORDER BY id LIMIT ?",
                    (max_tasks,),
                ).fetchall()
                claimed: builtins.list[Task] = []
                failed: builtins.list[tuple[int, str]] = []  # (task id, why)
                docs = 0
                for row in rows:
                    interrupted = row["status"] == "processing"
                    if interrupted and row["attempts"] >= max_attempts:
                        failed.append((row["id"], _KILLED.format(attempts=row["attempts"])))
                        continue
                    try:
                        task = _row_to_task(row)
                    except UnreadableTaskError as exc:
                        failed.append((row["id"], f"{exc}; it cannot be applied"))
                        continue
                    if claimed and (interrupted or task.kind == "reindex"):
                        break
                    size = len(task.payload.get("documents", ())) + len(task.payload.get("ids", ()))
                    if claimed and docs + size > max_documents:
                        break
                    claimed.append(task)
                    docs += size
                    if interrupted or task.kind == "reindex":
                        break
                now = time.time()
                db.executemany(
                    "UPDATE tasks SET status='failed', error=?, finished_at=? WHERE id=?",
                    [(why, now, task_id) for task_id, why in failed],
                )
                db.executemany(
                    "UPDATE tasks SET status='processing', started_at=?, attempts=attempts+1 WHERE id=?",
                    [(now, t.id) for t in claimed],
                )
                db.execute("COMMIT")
            for task_id, why in failed:
                log.error("task %d marked failed: %s", task_id, why)
            return claimed, now

        claimed, now = _retrying(take)
        # What the rows now say (attempts counts this one).
        return [
            Task(
                t.id,
                t.kind,
                "processing",
                t.details,
                t.result,
                t.error,
                t.enqueued_at,
                now,
                None,
                t.attempts + 1,
                t.payload,
                t.request_id,
            )
            for t in claimed
        ]

    def release(self, task_ids: builtins.list[int]) -> None:
        """Give claimed tasks back, their attempt not counted: they failed through no fault of theirs (a full
        disk) and are applied later."""

        def give_back() -> None:
            with self._connect() as db:
                db.executemany(
                    "UPDATE tasks SET status='enqueued', attempts=max(attempts - 1, 0)"
                    " WHERE id=? AND status='processing'",
                    [(i,) for i in task_ids],
                )

        _retrying(give_back)

    def finish(self, outcomes: builtins.list[Outcome]) -> None:
        """Mark tasks (id, status, result, error) in one transaction."""
        now = time.time()

        def mark() -> None:
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "UPDATE tasks SET status=?, result=?, error=?, finished_at=? WHERE id=?",
                    [
                        (s, json.dumps(r, ensure_ascii=False) if r is not None else None, e, now, i)
                        for i, s, r, e in outcomes
                    ],
                )
                db.execute("COMMIT")

        _retrying(mark)

    def wait(self, task_id: int, timeout: float, poll: float = 0.05) -> Task | None:
        """The task once it succeeded or failed, or as it is when `timeout` runs out (None: no such task)."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task is None or task.finished or time.monotonic() >= deadline:
                return task
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


Apply = Callable[[list[Task]], list[Outcome]]
# Told after each batch: its tasks, their final status by id, and the seconds the batch took.
BatchObserver = Callable[[list[Task], dict[int, str], float], None]


class TaskWriter:
    """A background thread that applies pending tasks whenever it can take the index's write lock."""

    def __init__(
        self,
        queue: TaskQueue,
        lock_factory: Callable[[], Any],
        apply: Apply,
        poll: float = 0.1,
        max_attempts: int = MAX_ATTEMPTS,
        handoff_delay: float = 0.5,
        max_hold: float = 10.0,
        observe: BatchObserver | None = None,
    ) -> None:
        self.queue = queue
        self.lock_factory = lock_factory
        self.apply = apply
        self.poll = poll
        self.max_attempts = max_attempts
        # A writer that has not applied anything yet (no spaCy model loaded) lets the one that has go first.
        self.handoff_delay = handoff_delay
        # Seconds of back-to-back batches before the lock is let go for a while, so that `searchsvc index`
        # (which waits for the lock) is not kept out for as long as writes keep coming.
        self.max_hold = max_hold
        self.observe = observe
        self._held_too_long = False
        self._warm = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="searchsvc-task-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Let the batch being applied finish, then end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.queue.pending_count():
                    if not self._warm and self.handoff_delay > 0:
                        if self._stop.wait(self.handoff_delay):
                            break
                        if not self.queue.pending_count():
                            continue
                    self.run_once()
                    if self._held_too_long and self._stop.wait(self.handoff_delay * 2):
                        break
            except Exception:  # keep the writer alive; the tasks stay pending and are retried
                log.exception("task writer failed; retrying")
                self._stop.wait(1.0)
            self._stop.wait(self.poll)

    def run_once(self) -> int:
        """Apply every pending task if this process can take the write lock; returns how many were applied."""
        lock = self.lock_factory()
        try:
            lock.acquire(timeout=0)
        except Exception:  # filelock.Timeout: another process (a worker or `searchsvc index`) is writing
            return 0
        try:
            applied = 0
            self._held_too_long = False
            taken = time.monotonic()
            while not self._stop.is_set():
                if time.monotonic() - taken > self.max_hold:
                    self._held_too_long = True
                    break
                tasks = self.queue.claim(max_attempts=self.max_attempts)
                if not tasks:
                    break
                started = time.monotonic()
                outcomes = self._apply(tasks)
                if self.observe is not None:
                    self.observe(tasks, {o[0]: o[1] for o in outcomes}, time.monotonic() - started)
                self._warm = True
                applied += len(tasks)
                log.info(
                    "applied %d task(s) %d-%d in %.2f s",
                    len(tasks),
                    tasks[0].id,
                    tasks[-1].id,
                    time.monotonic() - started,
                )
            return applied
        finally:
            lock.release()

    def _apply(self, tasks: list[Task]) -> list[Outcome]:
        """Apply a batch; when it raises, apply its tasks one by one so that only a task that fails by itself
        (`max_attempts` times) is marked failed, and the others are applied."""
        try:
            outcomes = self.apply(tasks)
        except Exception as exc:
            if _storage_full(exc):
                try:  # not the tasks' fault: the attempt is not counted
                    self.queue.release([t.id for t in tasks])
                except Exception:  # the disk is full: they stay processing, and count this attempt
                    log.exception("could not give back tasks %s", [t.id for t in tasks])
                raise
            if len(tasks) > 1:
                log.warning("a batch of %d tasks failed (%s); applying them one by one", len(tasks), exc)
                return [outcome for task in tasks for outcome in self._apply([task])]
            task = tasks[0]
            if task.attempts < self.max_attempts:
                raise
            log.exception("task %d failed %d times; marking it failed", task.id, task.attempts)
            # The exception's text (paths, internals) goes to the server log only: /tasks is read with the search key.
            message = f"the task failed with an internal error ({type(exc).__name__}); the server log has the details"
            outcomes = [(task.id, "failed", None, message)]
        self.queue.finish(outcomes)
        return outcomes
