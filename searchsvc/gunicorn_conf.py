"""gunicorn settings, from searchsvc's own (SEARCHSVC_HOST, _PORT, _WORKERS, _QUERY_TIMEOUT, _LOG_LEVEL).

    gunicorn -c searchsvc/gunicorn_conf.py searchsvc.wsgi:app

gthread workers: each worker process keeps the index open and each of its threads gets its own long-lived
Whoosh searcher (see search.py), so a slow client never blocks the others. The app is not preloaded: every
worker opens the index itself after the fork.
"""

from searchsvc.config import load_settings

_settings = load_settings()

bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
worker_class = "gthread"
threads = 4
# A worker silent for this long is killed and replaced; searches stop themselves at query_timeout.
timeout = max(30, int(_settings.query_timeout * 4))
# Under Docker's default 10 s stop grace period; searches end within query_timeout (5 s).
graceful_timeout = 8
keepalive = 5
# Not preloaded: each worker builds the app after the fork, and with it its task writer thread (api_writes.py);
# a thread started in the master would not survive the fork.
preload_app = False
# Long GET queries: max_query_length characters may be three times as many bytes once percent-encoded.
limit_request_line = 8190
accesslog = "-"  # stdout
errorlog = "-"  # stderr
loglevel = _settings.log_level
proc_name = "searchsvc"
# gunicorn >= 25.1 opens a control socket (worker counts, shutdown) in $XDG_RUNTIME_DIR or ~/.gunicorn:
# off, so nothing is written to a home directory (read-only containers) and no management socket is exposed.
control_socket_disable = True


def worker_exit(server: object, worker: object) -> None:
    """Let the worker's task writer finish the batch it is applying (and stop) before the interpreter shuts
    down, rather than in an atexit handler during shutdown (api_writes.py registers one for other servers)."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", None) or {}
    state = extensions.get("searchsvc.writes")
    if state is not None:
        state.stop(timeout=max(1, graceful_timeout - 5))
