"""Durable write tasks: every write is a row in SQLite before it is acknowledged, applied in order by one writer.

Whoosh allows one writer at a time, and gunicorn runs several worker processes. Every worker runs a `TaskWriter`
thread, but only the one that takes the index's write lock (the same lock `searchsvc index` takes) applies tasks.
A task is applied with one Whoosh commit and then marked done; a crash between the two re-applies it on restart,
which is harmless because each operation is an upsert or a delete by id.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("searchsvc.tasks")

STATUSES = ("enqueued", "processing", "succeeded", "failed")
KINDS = ("documents", "delete", "reindex")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    result TEXT,
    error TEXT,
    enqueued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, id);
"""


class StorageFullError(OSError):
    """The disk holding the task database or the index is full."""


@dataclass(frozen=True)
class Task:
    id: int
    kind: str
    status: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    enqueued_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int

    def summary(self) -> dict[str, Any]:
        """What the API shows of a task (the payload's documents are not echoed back)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "enqueued_at": self.enqueued_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "details": {k: v for k, v in self.payload.items() if k not in ("documents",)},
            "result": self.result,
            "error": self.error,
        }


def _row_to_task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        payload=json.loads(row["payload"]),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        enqueued_at=row["enqueued_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
    )


class TaskQueue:
    """The task table in `<index_dir>/tasks.sqlite` (WAL, synchronous=FULL: a committed enqueue survives kill -9)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=FULL")
        try:
            yield db
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise StorageFullError(28, "no space left for the task database") from None
            raise
        finally:
            db.close()

    def enqueue(self, kind: str, payload: dict[str, Any]) -> Task:
        if kind not in KINDS:
            raise ValueError(f"unknown task kind {kind!r}")
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO tasks (kind, status, payload, enqueued_at) VALUES (?, 'enqueued', ?, ?)",
                (kind, json.dumps(payload, ensure_ascii=False), time.time()),
            )
            task_id = cur.lastrowid
        task = self.get(int(task_id))  # type: ignore[arg-type]
        assert task is not None
        return task

    def get(self, task_id: int) -> Task | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return _row_to_task(row) if row else None

    def list(self, status: str | None = None, limit: int = 100, before: int | None = None) -> list[Task]:
        """Newest first."""
        sql, args = "SELECT * FROM tasks WHERE 1=1", []
        if status:
            sql += " AND status = ?"
            args.append(status)
        if before:
            sql += " AND id < ?"
            args.append(before)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._connect() as db:
            return [_row_to_task(r) for r in db.execute(sql, args)]

    def pending_count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT count(*) FROM tasks WHERE status IN ('enqueued', 'processing')").fetchone()[0]

    def claim(self, max_documents: int = 2000) -> list[Task]:
        """The oldest unfinished tasks, in order, marked processing. Tasks left `processing` by a crashed writer
        come first, so nothing accepted is skipped. A reindex task is claimed alone."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT * FROM tasks WHERE status IN ('enqueued', 'processing') ORDER BY id LIMIT 500"
            ).fetchall()
            claimed: list[Task] = []
            docs = 0
            for row in rows:
                task = _row_to_task(row)
                if task.kind == "reindex" and claimed:
                    break
                claimed.append(task)
                docs += len(task.payload.get("documents", ())) + len(task.payload.get("ids", ()))
                if task.kind == "reindex" or docs >= max_documents:
                    break
            now = time.time()
            db.executemany(
                "UPDATE tasks SET status='processing', started_at=?, attempts=attempts+1 WHERE id=?",
                [(now, t.id) for t in claimed],
            )
            db.execute("COMMIT")
        return claimed

    def finish(self, outcomes: list[tuple[int, str, dict[str, Any] | None, str | None]]) -> None:
        """Mark tasks (id, status, result, error) in one transaction."""
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "UPDATE tasks SET status=?, result=?, error=?, finished_at=? WHERE id=?",
                [(s, json.dumps(r) if r is not None else None, e, now, i) for i, s, r, e in outcomes],
            )
            db.execute("COMMIT")

    def wait(self, task_id: int, timeout: float, poll: float = 0.05) -> Task | None:
        """The task once it succeeded or failed, or as it is when `timeout` runs out."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task is None or task.status in ("succeeded", "failed") or time.monotonic() >= deadline:
                return task
            time.sleep(poll)


Apply = Callable[[list[Task]], list[tuple[int, str, dict[str, Any] | None, str | None]]]


class TaskWriter:
    """A background thread that applies pending tasks whenever it can take the index's write lock."""

    def __init__(self, queue: TaskQueue, lock_factory: Callable[[], Any], apply: Apply, poll: float = 0.1) -> None:
        self.queue = queue
        self.lock_factory = lock_factory
        self.apply = apply
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="searchsvc-task-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.queue.pending_count():
                    self.run_once()
            except Exception:  # keep the writer alive; the task stays pending and is retried
                log.exception("task writer failed; retrying")
                self._stop.wait(1.0)
            self._stop.wait(self.poll)

    def run_once(self) -> int:
        """Apply every pending task if this process can take the write lock; returns how many were applied."""
        lock = self.lock_factory()
        try:
            lock.acquire(timeout=0)
        except Exception:  # filelock.Timeout: another process is the writer now
            return 0
        try:
            applied = 0
            while not self._stop.is_set():
                tasks = self.queue.claim()
                if not tasks:
                    break
                self.queue.finish(self.apply(tasks))
                applied += len(tasks)
            return applied
        finally:
            lock.release()
