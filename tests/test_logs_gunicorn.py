"""Logs of real gunicorn (2 workers) in JSON: every line is one object; access lines carry the request id,
method, path without query values, status, duration and worker pid; the keys never appear, whatever requests
carry them (good, wrong, in a header or where no key belongs)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from servers import Server, run_gunicorn

SEARCH_KEY = "search-9f2b7c1d-logkey"
ADMIN_KEY = "admin-4e8a0b6c-logkey"
WRONG_KEY = "wrong-5d3c2a1b-logkey"


@pytest.fixture(scope="module")
def logged(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("logs")
    log = tmp / "gunicorn.log"
    shutil.copytree(index_dir, tmp / "index")  # with an admin key the server keeps a task database beside it
    with run_gunicorn(
        tmp / "index", log, workers=2, search_key=SEARCH_KEY, admin_key=ADMIN_KEY, log_format="json"
    ) as srv:
        yield srv, log


def _requests(srv: Server) -> None:
    base = srv.base
    for key in (SEARCH_KEY, ADMIN_KEY, WRONG_KEY):
        auth = {"Authorization": f"Bearer {key}"}
        requests.get(base + "/search", params={"q": "harbour"}, headers=auth, timeout=10)
        requests.get(base + "/stats", headers=auth, timeout=10)
        requests.get(base + "/tasks", headers=auth, timeout=10)
        requests.delete(base + "/documents/nothing-here", headers=auth, timeout=10)
        requests.get(base + "/search", params={"q": "harbour", "key": key}, headers=auth, timeout=10)
        requests.get(base + "/search", headers={"Authorization": key, "X-Api-Key": key}, timeout=10)
        requests.get(base + "/metrics", headers=auth, timeout=10)
    requests.get(
        base + "/search",
        params={"q": "harbour private words"},
        headers={"Authorization": f"Bearer {SEARCH_KEY}", "X-Request-Id": "log-test-1"},
        timeout=10,
    )


def _lines(log: Path) -> list[dict[str, Any]]:
    text = log.read_text("utf-8")
    if not text.endswith("\n"):  # a line being written
        text = text.rpartition("\n")[0]
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_keys_never_reach_the_log(logged: tuple[Server, Path]) -> None:
    srv, log = logged
    _requests(srv)
    text = log.read_text("utf-8")
    for key in (SEARCH_KEY, ADMIN_KEY, WRONG_KEY):
        assert key not in text
    assert "Bearer" not in text and "private words" not in text


def test_every_line_is_json_and_access_lines_carry_the_request(logged: tuple[Server, Path]) -> None:
    srv, log = logged
    deadline = time.monotonic() + 10
    while True:  # a worker writes its access line after the answer is sent
        lines = _lines(log)  # every line parses
        access = [line for line in lines if line["logger"] == "gunicorn.access"]
        mine = [line for line in access if line["request_id"] == "log-test-1"]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(mine) == 1, access[-5:]
    line = mine[0]
    assert line["method"] == "GET" and line["path"] == "/search?q=" and line["status"] == 200
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert line["level"] == "info" and line["time"].endswith("Z")
    assert line["pid"] != srv.process.pid  # a worker's
    assert {"time", "level", "logger", "pid", "request_id", "method", "path", "message"} <= set(line)
    refused = [a for a in access if a["status"] == 401]
    assert refused and all(a["request_id"] and len(a["request_id"]) == 32 for a in refused)
    assert len({a["pid"] for a in access}) >= 1
