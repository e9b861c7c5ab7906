"""The task writer's lifecycle in one process: the task queue beside the index, opened on first need, and the
writer thread, started once per process (a forked gunicorn worker starts its own) and stopped at exit."""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading

from searchsvc.config import Settings
from searchsvc.errors import IndexUnavailableError, InsufficientStorageError
from searchsvc.index.store import IndexStore, IndexStoreError
from searchsvc.writes.applier import make_applier
from searchsvc.writes.tasks import BatchObserver, StorageFullError, TaskQueue, TaskWriter

log = logging.getLogger("searchsvc")

TASKS_FILE = "tasks.sqlite"


class WriterLifecycle:
    """Settings, the index store, its task queue and this process's writer thread."""

    def __init__(self, settings: Settings, observe: BatchObserver | None = None) -> None:
        self.settings = settings
        self.observe = observe
        self.store = IndexStore(settings.index_path)
        self._queue: TaskQueue | None = None
        self._writer: TaskWriter | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    # -- the queue and the writer ----------------------------------------------------------------------------
    def queue(self, create: bool = True) -> TaskQueue | None:
        """The task queue; None when it does not exist and `create` is false (reads never create it)."""
        if self._queue is None:
            with self._lock:
                if self._queue is None:
                    path = self.store.root / TASKS_FILE
                    if not create and not path.exists():
                        return None
                    self._queue = TaskQueue(path)
        return self._queue

    def writable_queue(self) -> TaskQueue:
        """The queue for a write, after checking that the index directory is one searchsvc may write to."""
        try:
            self.store.read_marker()  # refuses a foreign directory before a task is written into it
        except IndexStoreError as exc:
            log.warning("writes refused: %s", exc)
            raise IndexUnavailableError("the index directory cannot be written: see the server log") from None
        try:
            queue = self.queue()
        except StorageFullError as exc:
            raise InsufficientStorageError(str(exc.strerror)) from None
        assert queue is not None
        self.ensure_writer()
        return queue

    def ensure_writer(self) -> None:
        """Start this process's writer thread, once per process (a forked worker starts its own). It runs
        when writes are enabled or tasks are stored, so tasks accepted before a crash are applied after a
        restart."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._writer = None  # a thread object inherited through fork does not run here
            if not self.settings.admin_key and not (self.store.root / TASKS_FILE).exists():
                return
            try:
                self.store.read_marker()
            except IndexStoreError as exc:
                log.warning("the task writer is not started: %s", exc)
                return
        try:
            queue = self.queue()
        except (OSError, sqlite3.Error):  # a worker must boot anyway; the next write tries again
            log.exception("the task writer could not open %s", self.store.root / TASKS_FILE)
            self._pid = None
            return
        assert queue is not None
        writer = TaskWriter(queue, self.store.write_lock, make_applier(self.store, self.settings), observe=self.observe)
        writer.start()
        self._writer = writer
        atexit.register(writer.stop)

    def stop(self, timeout: float = 10) -> None:
        """Stop this process's writer after the batch it is applying (tests; gunicorn's exit runs atexit)."""
        if self._writer is not None:
            self._writer.stop(timeout)
            atexit.unregister(self._writer.stop)
            self._writer = None

    @property
    def writer(self) -> TaskWriter | None:
        return self._writer
