"""Request ids: kept from X-Request-Id when valid, else made; echoed in the header, error bodies, log lines and
the task a write becomes."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import assert_error, assert_request_id
from flask.testing import FlaskClient

from searchsvc.logs import JsonFormatter, TextFormatter, accept_request_id, path_for_log

KEY = "admin-request-id-test-key"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("x" * 64, True),
        ("a b~!", True),
        ("x" * 65, False),
        ("", False),
        ("   ", False),
        ("caf\u00e9", False),
        ("a\tb", False),
        ("a\x7fb", False),
        (None, False),
    ],
)
def test_a_request_id_is_kept_when_valid_else_made(given: str | None, kept: bool) -> None:
    made = accept_request_id(given)
    assert_request_id(made)
    if kept:
        assert made == given
    else:
        assert made != given and len(made) == 32 and int(made, 16) >= 0


def test_every_answer_carries_the_id(client: FlaskClient) -> None:
    ok = client.get("/health", headers={"X-Request-Id": "probe-1"})
    assert ok.headers["X-Request-Id"] == "probe-1"
    made = client.get("/health").headers["X-Request-Id"]
    assert len(made) == 32 and made != client.get("/health").headers["X-Request-Id"]
    bad = client.get("/search?limt=5", headers={"X-Request-Id": "trace-42"})
    assert assert_error(bad, 400, "unknown_parameter", "limt")["request_id"] == "trace-42"
    missing = client.get("/no/such/endpoint")
    assert_error(missing, 404, "not_found")
    replaced = client.get("/documents/nope", headers={"X-Request-Id": "y" * 65})
    assert assert_error(replaced, 404, "not_found", "doc_id")["request_id"] != "y" * 65


def test_a_task_records_the_request_that_made_it(make_app: Any, own_index_dir: Path) -> None:
    client = make_app(own_index_dir, admin_key=KEY).test_client()
    auth = {"Authorization": f"Bearer {KEY}", "X-Request-Id": "write-7"}
    accepted = client.delete("/documents/api/not-from-a-file", headers=auth)  # (file-owned ids answer 409)
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    task = accepted.get_json()["task"]
    assert task["request_id"] == "write-7"
    shown = client.get(f"/tasks/{task['id']}").get_json()["task"]
    assert shown["request_id"] == "write-7"
    assert client.get("/tasks").get_json()["tasks"][0]["request_id"] == "write-7"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(secrets=[KEY]))
    log = logging.getLogger("searchsvc")
    log.addHandler(handler)
    try:
        yield out
    finally:
        log.removeHandler(handler)


def test_log_lines_of_a_request_carry_its_id(make_app: Any, own_index_dir: Path, json_log: io.StringIO) -> None:
    client = make_app(own_index_dir, admin_key=KEY).test_client()
    headers = {"Authorization": f"Bearer {KEY}", "X-Request-Id": "logged-9"}
    assert client.delete("/documents/api/not-from-a-file?wait=true", headers=headers).status_code in (200, 202)
    lines = [orjson.loads(line) for line in json_log.getvalue().splitlines()]
    accepted = [line for line in lines if line["message"].startswith("task ")]
    assert accepted, lines
    line = accepted[0]
    assert line["request_id"] == "logged-9"
    assert line["method"] == "DELETE" and line["path"] == "/documents/api/not-from-a-file?wait="
    assert line["level"] == "info" and isinstance(line["pid"], int) and line["time"].endswith("Z")
    assert KEY not in json_log.getvalue()


def test_formatters_redact_keys_and_paths_hide_query_values() -> None:
    record = logging.LogRecord("searchsvc", logging.WARNING, __file__, 1, f"key {KEY} leaked", None, None)
    assert KEY not in JsonFormatter(secrets=[KEY]).format(record)
    assert KEY not in TextFormatter(secrets=[KEY]).format(record)
    assert "[redacted]" in TextFormatter(secrets=[KEY]).format(record)
    assert path_for_log("/search", "q=secret+words&limit=5", keep_values=False) == "/search?q=&limit="
    assert path_for_log("/search", "q=secret+words", keep_values=True) == "/search?q=secret+words"
    assert path_for_log("/health", "", keep_values=False) == "/health"
