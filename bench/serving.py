"""Real gunicorn (searchsvc/gunicorn_conf.py, searchsvc.wsgi:app) driven over HTTP by keep-alive clients."""

from __future__ import annotations

import http.client
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import ROOT, children_of, latency_summary, proc_cpu_s, proc_memory_mb


class ServerError(RuntimeError):
    """gunicorn did not start or did not become ready."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        return children_of(self.process.pid)

    def memory(self) -> list[dict[str, float]]:
        return [{"pid": pid, **proc_memory_mb(pid)} for pid in self.workers()]

    def cpu(self) -> dict[int, float]:
        """CPU seconds used so far by each worker."""
        return {pid: proc_cpu_s(pid) for pid in self.workers()}

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@contextmanager
def gunicorn(index_dir: Path, workers: int, log: Path, gunicorn_args: str = "", **settings: Any) -> Iterator[Server]:
    """`python -m gunicorn -c searchsvc/gunicorn_conf.py searchsvc.wsgi:app` on a free port, ready to answer
    searches (GET /ready is 200); stopped with SIGTERM. `settings` are extra SEARCHSVC_* values;
    `gunicorn_args` (GUNICORN_CMD_ARGS) override the config file, for levers the config does not expose."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env.update(
        SEARCHSVC_INDEX_DIR=str(index_dir),
        SEARCHSVC_HOST="127.0.0.1",
        SEARCHSVC_PORT=str(port),
        SEARCHSVC_WORKERS=str(workers),
        SEARCHSVC_LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    env.update({f"SEARCHSVC_{k.upper()}": str(v) for k, v in settings.items()})
    env.pop("GUNICORN_CMD_ARGS", None)
    if gunicorn_args:
        env["GUNICORN_CMD_ARGS"] = gunicorn_args
    conf = str(ROOT / "searchsvc" / "gunicorn_conf.py")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", conf, "searchsvc.wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server("127.0.0.1", port, process, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise ServerError(f"gunicorn exited with {process.returncode}; see {log}")
            try:
                if server.get("/ready")[0] == 200 and len(server.workers()) >= workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"gunicorn was not ready within 120 s; see {log}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the group this function started
                process.wait()


def drive(server: Server, requests: Sequence[tuple[str, str]], clients: int) -> dict[str, Any]:
    """Send `requests` ((category, path) pairs, in order) from `clients` threads, each with one keep-alive
    connection; every response must be 200 with a JSON body. Returns throughput, latencies and errors."""
    counter = itertools.count()
    samples: list[list[tuple[str, float, bool]]] = [[] for _ in range(clients)]
    reconnects = [0] * clients
    examples: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        start.wait()
        while (i := next(counter)) < len(requests):
            category, path = requests[i]
            if conn.sock is None and i >= clients:
                reconnects[n] += 1
            began = time.perf_counter()
            ok = False
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                ok = response.status == 200 and body[:1] == b"{"
                if not ok and len(examples) < 5:
                    examples.append(f"{response.status} {path}: {body[:200]!r}")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if len(examples) < 5:
                    examples.append(f"{type(exc).__name__} {path}: {exc}")
            samples[n].append((category, (time.perf_counter() - began) * 1000, ok))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    flat = [s for per in samples for s in per]
    by_category: dict[str, list[float]] = defaultdict(list)
    for category, ms, ok in flat:
        if ok:
            by_category[category].append(ms)
    errors = Counter(category for category, _, ok in flat if not ok)
    return {
        "_samples": {c: list(v) for c, v in by_category.items()},
        "clients": clients,
        "requests": len(flat),
        "seconds": round(wall, 2),
        "req_per_s": round(len(flat) / wall, 1) if wall else 0.0,
        "latency_ms": latency_summary([ms for _, ms, ok in flat if ok]),
        "categories": {c: latency_summary(v) for c, v in sorted(by_category.items())},
        "errors": sum(errors.values()),
        "error_examples": examples,
        "reconnects": sum(reconnects),
    }


def paired(
    server: Server, requests: Sequence[tuple[str, str]], raw_ms: Callable[[int], float], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Each request over HTTP (one keep-alive connection) and its raw Whoosh query in this process
    (`raw_ms(index)`), back to back, in alternating order, as the in-process phase pairs service and raw: both
    then meet the same caches. Per category: {"http": [...], "raw": [...]} in ms; non-200 answers raise."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"http": [], "raw": []})
    try:
        for rnd in range(rounds):
            for i, (category, path) in enumerate(requests):
                for which in ("raw", "http") if (i + rnd) % 2 == 0 else ("http", "raw"):
                    if which == "raw":
                        out[category]["raw"].append(raw_ms(i))
                        continue
                    began = time.perf_counter()
                    conn.request("GET", path)
                    response = conn.getresponse()
                    body = response.read()
                    if response.status != 200:
                        raise ServerError(f"{response.status} {path}: {body[:200]!r}")
                    out[category]["http"].append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    return dict(out)


def repeated(server: Server, paths: Sequence[str]) -> dict[str, Any]:
    """Each path twice on one keep-alive connection; the second answer's latency (a result-cache hit)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    ms: list[float] = []
    errors = 0
    try:
        for path in paths:
            for attempt in range(2):
                began = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors += 1
                elif attempt:
                    ms.append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    return {**latency_summary(ms), "errors": errors}
