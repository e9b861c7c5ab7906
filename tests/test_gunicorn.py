"""The real thing: gunicorn with searchsvc/gunicorn_conf.py serving searchsvc.wsgi:app over HTTP, including an
index rebuilt and swapped in under the running server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import ROOT, SEED_ID, build_index, write_corpus


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, base: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base = base
        self.process = process
        self.log = log

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.base + path, timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server(own_index_dir: Path, tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    env = {
        **os.environ,
        "SEARCHSVC_INDEX_DIR": str(own_index_dir),
        "SEARCHSVC_HOST": "127.0.0.1",
        "SEARCHSVC_PORT": str(port),
        "SEARCHSVC_WORKERS": "2",
        "SEARCHSVC_REFRESH_INTERVAL": "0.2",
        "SEARCHSVC_SEARCH_KEY": "",
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "searchsvc" / "gunicorn_conf.py"),
                "searchsvc.wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    srv = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if srv.get("/health").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer /health:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield srv
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serves_searches_errors_and_readiness(server: Server) -> None:
    response = server.get("/search", params={"q": '"Belt and Road"'})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    data = response.json()
    assert [h["id"] for h in data["hits"]] == [SEED_ID]
    assert "<mark>Belt and Road</mark>" in " ".join(data["hits"][0]["highlights"]["body"])

    missing = server.get("/documents/no-such-doc")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert server.get("/nope").json()["error"]["code"] == "not_found"

    ready = server.get("/ready")
    assert ready.status_code == 200 and ready.json()["documents"] == 8

    bad = server.get("/search", params={"q": "title:"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_query"


def test_answers_from_a_rebuilt_index_within_two_seconds(
    server: Server, own_index_dir: Path, tmp_path: Path
) -> None:
    assert server.get("/search", params={"q": "okapi"}).json()["total"] == 0
    corpus = write_corpus(
        tmp_path / "rebuilt",
        extra=[
            {"id": "okapi", "title": "Okapi sighted", "body": "An okapi was seen in the Ituri forest."},
        ],
    )
    build_index(corpus, own_index_dir)
    swapped = time.monotonic()
    streak = 0
    while streak < 6:  # several answers in a row, so every worker has switched
        assert time.monotonic() - swapped < 2.0, "the server still answers from the old index"
        hits = [h["id"] for h in server.get("/search", params={"q": "okapi"}).json()["hits"]]
        streak = streak + 1 if hits == ["okapi"] else 0
        time.sleep(0.02)
    assert server.get("/ready").json()["documents"] == 9
