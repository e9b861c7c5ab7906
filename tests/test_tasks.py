"""The durable task queue and the writer loop, without HTTP or Whoosh: order, claims after a crash, waits,
durability across kill -9, one writer at a time, and a task that keeps failing."""

from __future__ import annotations

import errno
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import cap_database
from filelock import FileLock

from searchsvc.writes.tasks import Outcome, StorageFullError, Task, TaskQueue, TaskWriter


@pytest.fixture
def queue(tmp_path: Path) -> TaskQueue:
    return TaskQueue(tmp_path / "tasks.sqlite")


def _docs(*ids: str) -> dict[str, Any]:
    return {"documents": [[n, {"id": i, "body": "x"}] for n, i in enumerate(ids)], "errors": []}


def test_enqueue_get_and_list_newest_first(queue: TaskQueue) -> None:
    first = queue.enqueue("documents", _docs("a"), {"id": "a"})
    second = queue.enqueue("delete", {"ids": ["a"]}, {"id": "a"})
    assert (first.id, second.id) == (1, 2) and first.status == "enqueued" and first.attempts == 0
    got = queue.get(first.id)
    assert got is not None and got.details == {"id": "a"} and got.result is None
    assert got.payload == {}  # get/list/wait never read the documents
    assert queue.get(99) is None
    assert [t.id for t in queue.list()] == [2, 1]
    assert [t.id for t in queue.list(status="enqueued", limit=1)] == [2]
    assert [t.id for t in queue.list(before=2)] == [1]
    assert queue.list(status="failed") == []
    summary = first.summary()
    assert set(summary) == {
        "id",
        "kind",
        "status",
        "enqueued_at",
        "started_at",
        "finished_at",
        "attempts",
        "details",
        "result",
        "error",
        "request_id",
    }
    assert summary["enqueued_at"].endswith("Z") and summary["started_at"] is None
    with pytest.raises(ValueError):
        queue.enqueue("upsert", {})


def test_claim_in_order_and_finish(queue: TaskQueue) -> None:
    for i in range(5):
        queue.enqueue("documents", _docs(f"d{i}"))
    claimed = queue.claim()
    assert [t.id for t in claimed] == [1, 2, 3, 4, 5]
    assert all(t.status == "processing" and t.attempts == 1 for t in claimed)
    assert claimed[0].payload["documents"][0][1]["id"] == "d0"
    queue.finish([(t.id, "succeeded", {"indexed": 1}, None) for t in claimed])
    assert queue.claim() == []
    done = queue.get(3)
    assert done is not None and done.status == "succeeded" and done.result == {"indexed": 1}
    assert done.finished_at is not None and done.finished
    assert queue.pending_count() == 0
    assert queue.counts() == {"enqueued": 0, "processing": 0, "succeeded": 5, "failed": 0}


def test_a_crashed_writers_tasks_are_claimed_again_first_one_at_a_time(queue: TaskQueue) -> None:
    queue.enqueue("documents", _docs("a"))
    queue.enqueue("documents", _docs("b"))
    assert [t.id for t in queue.claim()] == [1, 2]  # ... and the writer dies before finish()
    queue.enqueue("delete", {"ids": ["a"]})
    # Alone: if one of them killed the writer, it cannot take the others down with it again.
    assert [(t.id, t.attempts) for t in queue.claim()] == [(1, 2)]
    queue.finish([(1, "succeeded", None, None)])
    assert [(t.id, t.attempts) for t in queue.claim()] == [(2, 2)]
    queue.finish([(2, "succeeded", None, None)])
    assert [(t.id, t.attempts) for t in queue.claim()] == [(3, 1)]


def test_a_task_that_kills_its_writer_is_failed_after_the_limit_and_the_queue_moves_on(queue: TaskQueue) -> None:
    """A task whose application kills the process (gunicorn's timeout on a worker stuck in spaCy) is found
    `processing` at the next claim: that was an attempt, and after MAX_ATTEMPTS it is failed, not re-claimed
    forever with the tasks after it waiting."""
    for name in ("poison", "b", "c"):
        queue.enqueue("documents", _docs(name))
    assert [t.id for t in queue.claim(max_attempts=3)] == [1, 2, 3]  # the writer dies: every claim below too
    assert [(t.id, t.attempts) for t in queue.claim(max_attempts=3)] == [(1, 2)]
    assert [(t.id, t.attempts) for t in queue.claim(max_attempts=3)] == [(1, 3)]
    again = queue.claim(max_attempts=3)  # task 1 killed its writer 3 times
    assert [(t.id, t.attempts) for t in again] == [(2, 2)]
    poison = queue.get(1)
    assert poison is not None and (poison.status, poison.attempts) == ("failed", 3)
    assert "writer stopped while applying this task, 3 times" in (poison.error or "")
    assert poison.finished_at is not None
    queue.finish([(2, "succeeded", None, None)])
    assert [t.id for t in queue.claim(max_attempts=3)] == [3]
    queue.finish([(3, "succeeded", None, None)])
    assert queue.counts() == {"enqueued": 0, "processing": 0, "succeeded": 2, "failed": 1}


def _corrupt(queue: TaskQueue, task_id: int, **columns: str) -> None:
    db = sqlite3.connect(queue.path)
    for column, value in columns.items():
        db.execute(f"UPDATE tasks SET {column} = ? WHERE id = ?", (value, task_id))
    db.commit()
    db.close()


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", "null", '{"documents": '])
def test_a_task_that_cannot_be_read_is_failed_not_claimed_forever(queue: TaskQueue, payload: str) -> None:
    queue.enqueue("documents", _docs("a"))
    queue.enqueue("documents", _docs("b"))
    _corrupt(queue, 1, payload=payload)
    assert [t.id for t in queue.claim()] == [2]
    bad = queue.get(1)
    assert bad is not None and bad.status == "failed" and "payload" in (bad.error or "")


def test_damaged_details_or_result_do_not_break_a_listing(queue: TaskQueue) -> None:
    queue.enqueue("delete", {"ids": ["a"]}, {"id": "a"})
    queue.enqueue("delete", {"ids": ["b"]}, {"id": "b"})
    _corrupt(queue, 1, details="{not json", result="nor this")
    _corrupt(queue, 2, details="[1]")
    listed = {t.id: t for t in queue.list()}
    assert listed[1].details == {} and listed[1].result is None
    assert listed[2].details == {}
    assert listed[1].summary()["details"] == {}


def test_claim_limits_documents_and_claims_a_reindex_alone(queue: TaskQueue) -> None:
    queue.enqueue("documents", _docs("a", "b", "c"))
    queue.enqueue("documents", _docs("d", "e"))
    queue.enqueue("reindex", {})
    queue.enqueue("documents", _docs("f"))
    assert [t.id for t in queue.claim(max_documents=4)] == [1]
    queue.finish([(1, "succeeded", None, None)])
    assert [t.id for t in queue.claim()] == [2]  # stops before the reindex
    queue.finish([(2, "succeeded", None, None)])
    assert [t.kind for t in queue.claim()] == ["reindex"]
    queue.finish([(3, "succeeded", None, None)])
    assert [t.id for t in queue.claim()] == [4]
    # One task larger than the limit is still claimed (alone).
    queue.enqueue("documents", _docs(*[f"x{i}" for i in range(10)]))
    queue.finish([(4, "succeeded", None, None)])
    assert [t.id for t in queue.claim(max_documents=4)] == [5]


def test_wait_returns_at_the_timeout_or_when_finished(queue: TaskQueue) -> None:
    task = queue.enqueue("delete", {"ids": ["a"]})
    started = time.monotonic()
    waited = queue.wait(task.id, timeout=0.3)
    elapsed = time.monotonic() - started
    assert waited is not None and waited.status == "enqueued"
    assert elapsed >= 0.3  # it waited; how much longer depends on the machine's load
    assert queue.wait(12345, timeout=5) is None

    def finish_soon() -> None:
        time.sleep(0.2)
        queue.claim()
        queue.finish([(task.id, "succeeded", {"deleted": 1}, None)])

    thread = threading.Thread(target=finish_soon)
    thread.start()
    # The timeout is far beyond any machine's delay: a wait that ignored the finish would come back "enqueued".
    done = queue.wait(task.id, timeout=120)
    thread.join()
    assert done is not None and done.status == "succeeded"


def test_an_acknowledged_enqueue_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite"
    script = (
        "import sys, time\n"
        "from searchsvc.writes.tasks import TaskQueue\n"
        f"q = TaskQueue({str(path)!r})\n"
        "for i in range(20):\n"
        "    t = q.enqueue('delete', {'ids': [f'doc{i}']})\n"
        "    print(t.id, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(20)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    queue = TaskQueue(path)
    assert [t.id for t in reversed(queue.list(limit=100))] == acknowledged


def test_old_databases_gain_the_details_column(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, status TEXT NOT NULL,"
        " payload TEXT NOT NULL, result TEXT, error TEXT, enqueued_at REAL NOT NULL, started_at REAL,"
        " finished_at REAL, attempts INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO tasks (kind, status, payload, enqueued_at)"
        " VALUES ('delete', 'enqueued', '{\"ids\": [\"a\"]}', 1);"
    )
    db.commit()
    db.close()
    queue = TaskQueue(path)
    old = queue.get(1)
    assert old is not None and old.details == {}
    assert [t.payload for t in queue.claim()] == [{"ids": ["a"]}]


def test_workers_may_open_a_new_queue_at_the_same_time(tmp_path: Path) -> None:
    """gunicorn boots its workers together, and each opens (and so creates) the queue."""
    path = tmp_path / "tasks.sqlite"
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_queue() -> None:
        barrier.wait()
        try:
            TaskQueue(path).enqueue("delete", {"ids": ["x"]})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_queue) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(TaskQueue(path).list()) == 8


def test_a_full_disk_is_a_storage_full_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SQLITE_FULL (the file may not grow past 32 pages): the enqueue that does not fit is refused with
    StorageFullError and leaves nothing behind; what was stored before stays readable."""
    path = tmp_path / "tasks.sqlite"
    queue = TaskQueue(path)
    cap_database(monkeypatch, path, pages=32)
    big = _docs("big")
    big["documents"][0][1]["body"] = "y" * 4000
    stored = 0
    with pytest.raises(StorageFullError) as caught:
        while stored < 1000:
            queue.enqueue("documents", big)
            stored += 1
    assert caught.value.errno == errno.ENOSPC
    assert 0 < stored < 1000
    assert [t.id for t in queue.list(limit=2000)] == list(range(stored, 0, -1))
    assert queue.counts()["enqueued"] == stored


# -- the writer loop -----------------------------------------------------------------------------------------
class Recorder:
    """An `apply` that records what it was given and can be told to fail on a task id."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    def __call__(self, tasks: list[Task]) -> list[Outcome]:
        if self.fail_on in [t.id for t in tasks]:
            raise RuntimeError(f"cannot apply task {self.fail_on}")
        self.batches.append([t.id for t in tasks])
        return [(t.id, "succeeded", {"n": len(t.payload.get("documents", ()))}, None) for t in tasks]


def test_the_writer_applies_only_while_it_holds_the_lock(queue: TaskQueue, tmp_path: Path) -> None:
    lock_path = str(tmp_path / "write.lock")
    recorder = Recorder()
    writer = TaskWriter(queue, lambda: FileLock(lock_path), recorder)
    for i in range(3):
        queue.enqueue("documents", _docs(f"d{i}"))
    other = FileLock(lock_path)  # `searchsvc index`, or another worker's writer
    other.acquire()
    try:
        assert writer.run_once() == 0
        assert queue.pending_count() == 3
    finally:
        other.release()
    assert writer.run_once() == 3
    assert recorder.batches == [[1, 2, 3]]
    assert queue.pending_count() == 0


def test_a_task_that_keeps_failing_is_marked_failed(queue: TaskQueue, tmp_path: Path) -> None:
    recorder = Recorder(fail_on=2)
    writer = TaskWriter(queue, lambda: FileLock(str(tmp_path / "write.lock")), recorder, max_attempts=3)
    for i in range(4):
        queue.enqueue("documents", _docs(f"d{i}"))
    for _ in range(2):  # the first attempts raise (and the writer loop would retry a second later)
        with pytest.raises(RuntimeError):
            writer.run_once()
    assert queue.get(2).status == "processing"  # type: ignore[union-attr]
    writer.run_once()
    statuses = {t.id: (t.status, t.attempts) for t in queue.list()}
    assert statuses[2] == ("failed", 3)
    assert {statuses[i][0] for i in (1, 3, 4)} == {"succeeded"}
    error = queue.get(2).error or ""  # type: ignore[union-attr]
    # The exception's text is in the log, not in the task that search-key holders read.
    assert "RuntimeError" in error and "server log" in error and "cannot apply task 2" not in error
    assert [i for batch in recorder.batches for i in batch] == [1, 3, 4]  # in order, 2 skipped


def test_a_full_disk_does_not_count_as_an_attempt(queue: TaskQueue, tmp_path: Path) -> None:
    def full(tasks: list[Task]) -> list[Outcome]:
        raise OSError(errno.ENOSPC, "No space left on device")

    writer = TaskWriter(queue, lambda: FileLock(str(tmp_path / "write.lock")), full, max_attempts=3)
    queue.enqueue("documents", _docs("a"))
    for _ in range(5):
        with pytest.raises(OSError):
            writer.run_once()
    task = queue.get(1)
    assert task is not None and (task.status, task.attempts) == ("enqueued", 0)


def test_the_writer_thread_applies_what_is_enqueued(queue: TaskQueue, tmp_path: Path) -> None:
    recorder = Recorder()
    writer = TaskWriter(queue, lambda: FileLock(str(tmp_path / "write.lock")), recorder, poll=0.01, handoff_delay=0.05)
    writer.start()
    try:
        task = queue.enqueue("documents", _docs("a", "b"))
        done = queue.wait(task.id, timeout=5)
        assert done is not None and done.status == "succeeded" and done.result == {"n": 2}
        assert writer.running
    finally:
        writer.stop()
    assert not writer.running


def test_a_busy_writer_lets_searchsvc_index_take_the_lock(queue: TaskQueue, tmp_path: Path) -> None:
    lock_path = str(tmp_path / "write.lock")

    class Slow(Recorder):
        def __call__(self, tasks: list[Task]) -> list[Outcome]:
            time.sleep(0.05)
            queue.enqueue("documents", _docs(f"more{len(self.batches)}"))  # writes keep coming
            return super().__call__(tasks)

    writer = TaskWriter(queue, lambda: FileLock(lock_path), Slow(), poll=0.01, handoff_delay=0.2, max_hold=0.5)
    queue.enqueue("documents", _docs("first"))
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while not queue.list(status="succeeded"):
            assert time.monotonic() < deadline, "the writer applied nothing"
            time.sleep(0.01)
        # What `searchsvc index` does. Writes keep coming, so a writer that never let go (max_hold ignored) would
        # hold the lock until writer.stop(): the lock must be taken while the writer still runs and has work.
        with FileLock(lock_path, timeout=120):
            assert writer.running and queue.pending_count() > 0
    finally:
        writer.stop()


@pytest.mark.parametrize("message", ["locking protocol", "database is locked"])
def test_a_write_waits_out_a_transient_database_error(
    queue: TaskQueue, monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    """After a worker is killed mid-write SQLite may answer "locking protocol" (WAL recovery) or "locked" at
    once: the enqueue is retried as patiently as a healthy busy wait, not refused."""
    real = queue._connect
    failures = [3]

    class Flaky:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def execute(self, *args: Any) -> Any:
            if failures[0]:
                failures[0] -= 1
                raise sqlite3.OperationalError(message)
            return self.db.execute(*args)

    @contextmanager
    def flaky_connect() -> Any:
        with real() as db:
            yield Flaky(db)

    monkeypatch.setattr(queue, "_connect", flaky_connect)
    task = queue.enqueue("documents", _docs("a"), {"id": "a"})
    assert failures == [0]
    monkeypatch.undo()
    got = queue.get(task.id)
    assert got is not None and got.status == "enqueued"
