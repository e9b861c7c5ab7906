"""Prometheus metrics: the recorder the search service times its phases with, /metrics in one process (the
Flask test client), and against real gunicorn with 2 workers: counts add up across workers, histograms have the
documented buckets, the endpoint is protected like the other reads, or served on SEARCHSVC_METRICS_PORT."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import assert_error
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from servers import ROOT, Server, free_port, run_gunicorn

from searchsvc.config import Settings
from searchsvc.monitoring import PHASE_BUCKETS, REQUEST_BUCKETS, TASK_BUCKETS
from searchsvc.search.query import Filters
from searchsvc.search.service import PHASES, SearchRequest, SearchService

README = ROOT / "README.md"
N = 6  # requests to each endpoint


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels (parsed by prometheus_client's own parser)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def buckets(found: dict[Any, float], name: str, **labels: str) -> list[float]:
    les = set()
    for (sample, sample_labels), _ in found.items():
        d = dict(sample_labels)
        if sample == name + "_bucket" and all(d.get(k) == v for k, v in labels.items()):
            les.add(float(d["le"]))
    return sorted(les)


class Recorder:
    def __init__(self) -> None:
        self.phases: list[str] = []
        self.hits: list[bool] = []

    def phase(self, name: str, seconds: float) -> None:
        assert seconds >= 0
        self.phases.append(name)

    def cache(self, hit: bool) -> None:
        self.hits.append(hit)


def test_the_service_times_its_phases_through_a_recorder(settings: Settings) -> None:
    recorder = Recorder()
    service = SearchService(settings, recorder=recorder)
    try:
        request = SearchRequest(q="harbour", facets=("place",), filters=Filters())
        service.search(request)
        service.search(request)
        service.search(SearchRequest(q="harbour", sort="-published"))
        service.search(SearchRequest(q="harbuor"))  # few hits: did-you-mean
    finally:
        service.close()
    assert {"parse", "count", "rank", "facets", "highlight", "suggest"} <= set(recorder.phases) <= set(PHASES)
    assert recorder.hits == [False, True, False, False]


def test_metrics_in_one_process(client: FlaskClient) -> None:
    for _ in range(3):
        assert client.get("/search?q=harbour").status_code == 200
    assert_error(client.get("/search?limt=1"), 400, "unknown_parameter", "limt")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = samples(response.get_data(as_text=True))
    assert value(found, "searchsvc_http_requests_total", endpoint="api.search", method="GET", status="200") == 3
    assert value(found, "searchsvc_refusals_total", code="unknown_parameter") == 1
    assert value(found, "searchsvc_result_cache_lookups_total", result="hit") == 2
    assert value(found, "searchsvc_index_documents") == 8
    assert value(found, "searchsvc_index_up") == 1
    assert value(found, "searchsvc_tasks", status="enqueued") == 0


def test_metrics_need_the_search_key_when_one_is_set(make_app: Any) -> None:
    client = make_app(search_key="reader-key").test_client()
    assert_error(client.get("/metrics"), 401, "unauthorized")
    assert client.get("/metrics", headers={"Authorization": "Bearer reader-key"}).status_code == 200


def test_the_readme_documents_every_metric_and_its_buckets() -> None:
    text = README.read_text("utf-8")
    section = text[text.index("## Monitoring") :]
    for name in (
        "searchsvc_http_requests_total",
        "searchsvc_http_request_duration_seconds",
        "searchsvc_search_phase_seconds",
        "searchsvc_result_cache_lookups_total",
        "searchsvc_search_timed_out_total",
        "searchsvc_refusals_total",
        "searchsvc_task_apply_seconds",
        "searchsvc_task_latency_seconds",
        "searchsvc_tasks_finished_total",
        "searchsvc_index_up",
        "searchsvc_index_documents",
        "searchsvc_index_segments",
        "searchsvc_index_size_bytes",
        "searchsvc_index_generation_age_seconds",
        "searchsvc_index_last_commit_age_seconds",
        "searchsvc_tasks",
    ):
        assert f"`{name}`" in section, name
    for bounds in (REQUEST_BUCKETS, PHASE_BUCKETS, TASK_BUCKETS):
        assert ", ".join(f"{b:g}" for b in bounds) in section


# -- real gunicorn -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("metrics") / "gunicorn.log"
    with run_gunicorn(index_dir, log, workers=2, log_format="json") as srv:
        yield srv


def _traffic(base: str) -> None:
    for _ in range(N):
        assert requests.get(base + "/search", params={"q": "harbour", "facets": "place"}, timeout=10).ok
        assert requests.get(base + "/documents/harbour-a", timeout=10).ok
        assert requests.get(base + "/entities", params={"type": "place"}, timeout=10).ok
        assert requests.get(base + "/stats", timeout=10).ok
        assert requests.get(base + "/documents/nope", timeout=10).status_code == 404
        assert requests.get(base + "/search", params={"limt": "1"}, timeout=10).status_code == 400


def test_counts_add_up_across_workers(server: Server) -> None:
    _traffic(server.base)
    for _ in range(4):  # whichever worker answers the scrape, it adds up both
        response = server.get("/metrics")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        found = samples(response.text)
        requests_total = "searchsvc_http_requests_total"
        assert value(found, requests_total, endpoint="api.search", method="GET", status="200") == N
        assert value(found, requests_total, endpoint="api.search", method="GET", status="400") == N
        assert value(found, requests_total, endpoint="api.document", method="GET", status="200") == N
        assert value(found, requests_total, endpoint="api.document", method="GET", status="404") == N
        assert value(found, requests_total, endpoint="api.entities", method="GET", status="200") == N
        assert value(found, requests_total, endpoint="api.stats", method="GET", status="200") == N
        assert value(found, "searchsvc_refusals_total", code="not_found") == N
        assert value(found, "searchsvc_refusals_total", code="unknown_parameter") == N
        duration = "searchsvc_http_request_duration_seconds"
        assert value(found, duration + "_count", endpoint="api.search", status="200") == N
        hits = value(found, "searchsvc_result_cache_lookups_total", result="hit")
        misses = value(found, "searchsvc_result_cache_lookups_total", result="miss")
        assert hits + misses == N and 1 <= misses <= 2  # one result cache per worker
        assert value(found, "searchsvc_search_phase_seconds_count", phase="facets") == misses
        assert value(found, "searchsvc_index_documents") == 8
        assert value(found, "searchsvc_index_segments") >= 1
        assert value(found, "searchsvc_index_size_bytes") > 0
        assert 0 <= value(found, "searchsvc_index_generation_age_seconds") < 3600
        assert value(found, "searchsvc_tasks", status="failed") == 0
        assert buckets(found, duration, endpoint="api.search", status="200") == [*REQUEST_BUCKETS, float("inf")]
        assert buckets(found, "searchsvc_search_phase_seconds", phase="rank") == [*PHASE_BUCKETS, float("inf")]


def test_metrics_on_their_own_port(index_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    with run_gunicorn(index_dir, tmp_path / "gunicorn.log", workers=2, metrics_port=str(port)) as srv:
        for _ in range(N):
            assert srv.get("/search", params={"q": "ferry"}).ok
        assert_error(srv.get("/metrics"), 404, "not_found")
        deadline = time.monotonic() + 10
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        found = samples(response.text)
        assert value(found, "searchsvc_http_requests_total", endpoint="api.search", method="GET", status="200") == N
        assert value(found, "searchsvc_index_documents") == 8
