"""Prometheus metrics (no Flask): what the workers count, and what is read from the index and the task queue at
scrape time.

Under gunicorn, prometheus_client runs in multiprocess mode: gunicorn_conf.py points PROMETHEUS_MULTIPROC_DIR at
a fresh temporary directory before any worker starts, each worker writes its counters and histograms there, and
a scrape (GET /metrics in any worker, or SEARCHSVC_METRICS_PORT in the master) adds up every worker's files.
The gauges of the index and the task queue are not counted by anybody: they are read from disk by the process
that answers the scrape, so they are never stale and never counted once per worker. Without
PROMETHEUS_MULTIPROC_DIR (tests, an embedding application) each app counts in a registry of its own.

The README's "Monitoring" section describes each metric; the buckets are these constants.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from searchsvc.config import Settings
from searchsvc.index.store import IndexStore, IndexStoreError
from searchsvc.writes.lifecycle import TASKS_FILE
from searchsvc.writes.tasks import STATUSES, Task, counts_at

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. Requests: from a cached answer (~2 ms) to the time bound (SEARCHSVC_QUERY_TIMEOUT, 5 s) and past it.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Search phases are shorter: one phase of a plain search takes about a millisecond.
PHASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Tasks: a batch of documents goes through spaCy; a reindex takes minutes.
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


class StatusCollector(Collector):
    """Gauges read at scrape time: the live index (documents, segments, size, age) and tasks by status."""

    def __init__(self, index_dir: Path) -> None:
        self.store = IndexStore(index_dir)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("searchsvc_index_up", "1 when the live index can be read, else 0.")
        try:
            status = self.store.status()
        except (IndexStoreError, OSError):
            status = None
        up.add_metric([], 1 if status is not None else 0)
        yield up
        if status is not None:
            for name, help_text, value in (
                (
                    "searchsvc_index_documents",
                    "Documents in the live index.",
                    status.documents,
                ),
                (
                    "searchsvc_index_segments",
                    "Segments of the live index.",
                    status.segments,
                ),
                ("searchsvc_index_size_bytes", "Size of the live generation's files on disk.", status.size_bytes),
                (
                    "searchsvc_index_generation_age_seconds",
                    "Seconds since the live generation was built or last written to.",
                    max(0.0, time.time() - status.built_at),
                ),
                (
                    "searchsvc_index_last_commit_age_seconds",
                    "Seconds since the last commit to the live index.",
                    max(0.0, time.time() - status.last_commit_at),
                ),
            ):
                yield GaugeMetricFamily(name, help_text, value=value)
        tasks = GaugeMetricFamily("searchsvc_tasks", "Write tasks in the queue by status.", labels=["status"])
        try:
            counts = counts_at(self.store.root / TASKS_FILE)
        except (sqlite3.Error, OSError):
            counts = dict.fromkeys(STATUSES, 0)
        for name in STATUSES:
            tasks.add_metric([name], counts[name])
        yield tasks


class Metrics:
    """The metrics one app records, and their exposition. Also the search service's recorder (`phase`, `cache`)
    and the task writer's (`tasks_applied`): neither knows it is Prometheus."""

    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.status = StatusCollector(settings.index_path)
        r = self.registry
        self.requests = Counter(
            "searchsvc_http_requests",
            "HTTP requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "searchsvc_http_request_duration_seconds",
            "Time to build an answer, by endpoint and status (a streamed body is timed until its first byte).",
            ["endpoint", "status"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.phase_seconds = Histogram(
            "searchsvc_search_phase_seconds",
            "Time spent in each phase of a search: parse, feedback, count, rank, facets, highlight, suggest.",
            ["phase"],
            buckets=PHASE_BUCKETS,
            registry=r,
        )
        self.cache_lookups = Counter(
            "searchsvc_result_cache_lookups", "Result cache lookups by result (hit or miss).", ["result"], registry=r
        )
        self.timed_out = Counter(
            "searchsvc_search_timed_out", "Searches cut short by SEARCHSVC_QUERY_TIMEOUT (timed_out: true).", registry=r
        )
        self.refusals = Counter(
            "searchsvc_refusals", "Error answers by error code (the `code` of the error body).", ["code"], registry=r
        )
        self.task_apply_seconds = Histogram(
            "searchsvc_task_apply_seconds",
            "Time to apply one batch of write tasks (one Whoosh commit).",
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.task_latency_seconds = Histogram(
            "searchsvc_task_latency_seconds",
            "Time from a write's acceptance to the end of its task, by final status.",
            ["status"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.tasks_finished = Counter(
            "searchsvc_tasks_finished", "Write tasks finished, by status.", ["status"], registry=r
        )
        if multiprocess_dir() is None:
            r.register(self.status)
        for result in ("hit", "miss"):  # present from the start, so rate() has a first sample
            self.cache_lookups.labels(result)

    # -- recorders -------------------------------------------------------------------------------------------
    def request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.request_seconds.labels(endpoint, str(status)).observe(seconds)

    def phase(self, name: str, seconds: float) -> None:
        self.phase_seconds.labels(name).observe(seconds)

    def cache(self, hit: bool) -> None:
        self.cache_lookups.labels("hit" if hit else "miss").inc()

    def refused(self, code: str) -> None:
        self.refusals.labels(code).inc()

    def tasks_applied(self, tasks: list[Task], statuses: dict[int, str], seconds: float) -> None:
        self.task_apply_seconds.observe(seconds)
        now = time.time()
        for task in tasks:
            status = statuses.get(task.id, "succeeded")
            self.tasks_finished.labels(status).inc()
            self.task_latency_seconds.labels(status).observe(max(0.0, now - task.enqueued_at))

    # -- exposition ------------------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The text exposition format: every worker's counts under gunicorn, this app's otherwise."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        return generate_latest(scrape_registry(self.status))


def scrape_registry(status: Collector) -> CollectorRegistry:
    """A registry adding up every process's files in PROMETHEUS_MULTIPROC_DIR, plus the gauges read from disk."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(status)
    return registry


def serve_metrics(settings: Settings) -> Any:
    """/metrics on SEARCHSVC_METRICS_PORT, served by a thread of the calling process (gunicorn's master)."""
    registry = scrape_registry(StatusCollector(settings.index_path))
    return start_http_server(settings.metrics_port, addr=settings.host, registry=registry)


def mark_process_dead(pid: int) -> None:
    """Drop a finished worker's live gauges (its counters stay: they are totals)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)
