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
from collections.abc import Callable, Iterator, Mapping, Sequence
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


def searchsvc_gunicorn_settings() -> dict[str, Any]:
    """The worker settings of searchsvc/gunicorn_conf.py (as the service is deployed), for the peer to copy."""
    from searchsvc import gunicorn_conf

    return {
        "worker_class": gunicorn_conf.worker_class,
        "threads": gunicorn_conf.threads,
        "keepalive": gunicorn_conf.keepalive,
        "reuse_port": bool(getattr(gunicorn_conf, "reuse_port", False)),
    }


def conf_with_reuse_port(path: Path, reuse_port: bool) -> Path:
    """A gunicorn config file: searchsvc's own with reuse_port set. Off: one listening socket that every worker
    accepts from (gunicorn's default); on: a socket per worker, the kernel spreading connections (SO_REUSEPORT).
    For the worker balance trials, which compare both whatever the deployed config says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"from searchsvc.gunicorn_conf import *  # noqa: F403\n\nreuse_port = {reuse_port}\n", "utf-8")
    return path


@contextmanager
def gunicorn(
    index_dir: Path,
    workers: int,
    log: Path,
    gunicorn_args: str = "",
    conf: Path | None = None,
    app: str | None = None,
    **settings: Any,
) -> Iterator[Server]:
    """`python -m gunicorn -c searchsvc/gunicorn_conf.py searchsvc.wsgi:app` on a free port, ready to answer
    searches (GET /ready is 200); stopped with SIGTERM. `settings` are extra SEARCHSVC_* values;
    `gunicorn_args` (GUNICORN_CMD_ARGS) override the config file, for levers the config does not expose;
    `conf` replaces the config file, `app` the WSGI app (bench/overhead.py's memoised one)."""
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
    config = str(conf or ROOT / "searchsvc" / "gunicorn_conf.py")
    command = [sys.executable, "-m", "gunicorn", "-c", config, app or "searchsvc.wsgi:app"]
    with _started(command, env, port, workers, log) as server:
        yield server


@contextmanager
def fts5_gunicorn(
    db: Path, workers: int, log: Path, conf: Mapping[str, Any], app: str | None = None
) -> Iterator[Server]:
    """The FTS5 peer (bench/fts5_service.py) under gunicorn with searchsvc's worker settings (`conf`, from
    searchsvc_gunicorn_settings): the same worker count, worker class, threads, keep-alive and reuse_port. Like
    searchsvc it writes one access line per request (gunicorn's own format) to its log, so that both pay for one."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEARCHSVC_", "GUNICORN_"))}
    env.update(FTS5_DB=str(db), PYTHONPATH=str(ROOT))
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        str(conf["worker_class"]),
        "--threads",
        str(conf["threads"]),
        "--keep-alive",
        str(conf["keepalive"]),
        "--log-level",
        "warning",
        "--access-logfile",
        "-",
        *(["--reuse-port"] if conf.get("reuse_port") else []),
        app or "bench.fts5_service:create_app()",
    ]
    with _started(command, env, port, workers, log) as server:
        yield server


@contextmanager
def _started(command: Sequence[str], env: Mapping[str, str], port: int, workers: int, log: Path) -> Iterator[Server]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=dict(env),
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


# -- which worker holds each connection ------------------------------------------------------------------------
def _socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process `pid` has open (/proc/<pid>/fd -> "socket:[inode]")."""
    found: set[int] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def parse_proc_net_tcp(text: str, port: int) -> set[int]:
    """Socket inodes of the ESTABLISHED connections whose local port is `port`, from /proc/net/tcp(6) text."""
    inodes: set[int] = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != "01":  # 01 = TCP_ESTABLISHED
            continue
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(int(fields[9]))
    return inodes


def connection_split(server: Server) -> list[int]:
    """How many established client connections each worker holds now, largest first: [5, 3] for 8 clients
    split 5:3 between two workers (a worker holding none counts 0)."""
    established: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            established |= parse_proc_net_tcp(Path(f"/proc/net/{name}").read_text(), server.port)
        except OSError:
            continue
    counts = [len(_socket_inodes(pid) & established) for pid in server.workers()]
    return sorted(counts, reverse=True)


def drive(
    server: Server,
    requests: Sequence[tuple[str, str]],
    clients: int,
    on_connected: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Send `requests` ((category, path) pairs, in order) from `clients` threads, each with one keep-alive
    connection opened at the same moment; every response must be 200 with a JSON body. Returns throughput,
    latencies and errors, and under "connected" what `on_connected()` returned once every client had its first
    answer (every connection accepted by a worker), e.g. connection_split."""
    counter = itertools.count()
    samples: list[list[tuple[str, float, bool]]] = [[] for _ in range(clients)]
    reconnects = [0] * clients
    examples: list[str] = []
    start = threading.Barrier(clients + 1)
    connected = threading.Barrier(clients + 1) if on_connected is not None else None
    measured = threading.Event()  # the clients go on once on_connected has seen every connection

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        start.wait()
        waiting = connected is not None
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
            if waiting and connected is not None:
                connected.wait(timeout=120)
                measured.wait(timeout=120)
                waiting = False
        if waiting and connected is not None:
            connected.wait(timeout=120)
            measured.wait(timeout=120)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    seen = None
    if connected is not None and on_connected is not None:
        connected.wait(timeout=120)
        try:
            seen = on_connected()
        finally:
            measured.set()
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
        "connected": seen,
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
