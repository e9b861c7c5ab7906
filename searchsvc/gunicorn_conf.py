"""gunicorn settings, from searchsvc's own (SEARCHSVC_HOST, _PORT, _WORKERS, _QUERY_TIMEOUT, _LOG_LEVEL).

    gunicorn -c searchsvc/gunicorn_conf.py searchsvc.wsgi:app

gthread workers: each worker process keeps the index open and each of its threads gets its own long-lived
Whoosh searcher (see search.py), so a slow client never blocks the others. The app is not preloaded: every
worker opens the index itself after the fork.
"""

import logging
import os
import shutil
import tempfile
import uuid
from typing import Any

import orjson
from gunicorn import glogging, util

from searchsvc.config import load_settings
from searchsvc.errors import code_for_status, error_body
from searchsvc.logs import REQUEST_ID_HEADER, log_path, make_formatter

_settings = load_settings()
_SECRETS = (_settings.admin_key, _settings.search_key)


class SearchsvcLogger(glogging.Logger):
    """gunicorn's logs in the service's format (SEARCHSVC_LOG_FORMAT): its own lines, and one access line per
    request with the request id, method, path (query values only with SEARCHSVC_LOG_QUERIES), status,
    duration and worker pid. No header is logged, so no Authorization header either."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = make_formatter(_settings.log_format, _SECRETS)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        request_id = environ.get("searchsvc.request_id") or next(
            (v for k, v in getattr(resp, "headers", ()) if k.lower() == REQUEST_ID_HEADER.lower()), None
        )
        method = environ.get("REQUEST_METHOD", "-")
        path = log_path(environ, _settings.log_queries)
        duration_ms = round(request_time.total_seconds() * 1000, 2)
        try:
            status = int(status)
        except (TypeError, ValueError):
            pass
        fields = {"request_id": request_id, "method": method, "path": path, "status": status}
        try:
            self.access_log.info(
                "%s %s %s %.2f ms", method, path, status, duration_ms, extra={**fields, "duration_ms": duration_ms}
            )
        except Exception:
            logging.getLogger("gunicorn.error").exception("could not write an access line")


bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
worker_class = "gthread"
threads = 4
# One listening socket shared by the workers (gunicorn's default), not one per worker (reuse_port): reuse_port
# split bursts of 8 keep-alive connections more evenly in 6 of 8 runs of 8 to 20 bursts, but its p99 at 8
# connections was higher in all 8 (README, Performance: worker balance); and a socket per worker resets the
# connections queued on a worker that dies, and would let a second server share the port. The worker model was
# measured the same way: 4 gthread workers x 2 threads or 3 x 4 did no better on 2 cores, and sync workers (no
# keep-alive, and a slow client holds a whole worker) lost a third of the req/s.
# A worker silent for this long is killed and replaced; searches stop themselves at query_timeout.
timeout = max(30, int(_settings.query_timeout * 4))
# Under Docker's default 10 s stop grace period; searches end within query_timeout (5 s).
graceful_timeout = 8
keepalive = 5
# Not preloaded: each worker builds the app after the fork, and with it its task writer thread (api/write_routes.py);
# a thread started in the master would not survive the fork.
preload_app = False
# gunicorn's ceiling (the next value, 0, is unlimited: a client could stream a request line of any length into a
# worker). It holds a GET whose q is max_query_length (2000) ASCII characters, three bytes each percent-encoded;
# a longer line -- a q past about 8 KB, or 1400 Cyrillic or 900 Chinese characters -- is refused by gunicorn
# before the app sees it, with 414 in the JSON error shape (below). Long queries go in a POST /search body.
limit_request_line = 8190
accesslog = "-"  # stdout
logger_class = SearchsvcLogger  # access and error lines in SEARCHSVC_LOG_FORMAT
errorlog = "-"  # stderr
loglevel = _settings.log_level
proc_name = "searchsvc"
# gunicorn >= 25.1 opens a control socket (worker counts, shutdown) in $XDG_RUNTIME_DIR or ~/.gunicorn:
# off, so nothing is written to a home directory (read-only containers) and no management socket is exposed.
control_socket_disable = True


# -- Prometheus: one fresh directory of per-worker metric files per server start (monitoring.py) -----------------
# Set in on_starting, in the master before any worker is forked (workers inherit the environment) and before
# prometheus_client is imported anywhere in this process: it reads the variable when it is imported, so
# monitoring is imported inside the hooks below, not at the top of this file (which tests import).
def on_starting(server: object) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="searchsvc-metrics-")


def when_ready(server: object) -> None:
    """With SEARCHSVC_METRICS_PORT, /metrics is served by a thread of the master, adding up every worker."""
    if _settings.metrics_port:
        from searchsvc.monitoring import serve_metrics

        serve_metrics(_settings)


def child_exit(server: object, worker: Any) -> None:
    """In the master, after a worker ended (even by kill -9): its live gauges go, its counts stay."""
    from searchsvc.monitoring import mark_process_dead

    mark_process_dead(worker.pid)


def on_exit(server: object) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(path).startswith("searchsvc-metrics-"):
        shutil.rmtree(path, ignore_errors=True)


def worker_exit(server: object, worker: object) -> None:
    """Let the worker's task writer finish the batch it is applying (and stop) before the interpreter shuts
    down, rather than in an atexit handler during shutdown (writes/lifecycle.py registers one for other servers)."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", None) or {}
    state = extensions.get("searchsvc.writes")
    if state is not None:
        state.stop(timeout=max(1, graceful_timeout - 5))


def _json_write_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own refusals (a request line over limit_request_line, headers too large, a malformed request),
    written in the service's one JSON error shape instead of gunicorn's HTML page."""
    if status_int == 414:
        mesg = (
            f"the request line is longer than {limit_request_line} bytes; send a long query as JSON with POST /search"
        )
    request_id = uuid.uuid4().hex  # the request was not parsed: no X-Request-Id of its own to keep
    body = orjson.dumps(error_body(code_for_status(status_int), mesg or reason, request_id=request_id))
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"X-Request-Id: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# Workers call util.write_error (gunicorn/workers/base.py handle_error); they are forked after this file runs.
util.write_error = _json_write_error
