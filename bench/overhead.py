"""What the HTTP layer costs each service, apart from its search: both under gunicorn with the same worker
settings, their search function memoised (each worker computes an answer once, then returns it), so what a
request still costs is the socket, gunicorn, Flask, validation, logging, metrics and JSON. One keep-alive client
over the bench's mix, the two servers alternating round by round; per service the latency and the workers' CPU
time per request, beside the CPU time of the search itself in this process.

    python -m bench.overhead                    the quick corpus of `make bench` (bench/work/index-x1, fts5-x1.db)
    python -m bench.overhead --rounds 10        more rounds

The apps gunicorn loads are searchsvc_app() and fts5_app() below (not for serving anything real).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import fts5_service, queries, reuters, serving, sidebyside
from bench.measure import ROOT, latency_summary, load_average

DEFAULT_DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "bench" / "work"


def memoised(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` answering each distinct call once, then from memory (its arguments must be hashable)."""
    seen: dict[Any, Any] = {}

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in seen:
            seen[key] = fn(*args, **kwargs)
        return seen[key]

    return wrapped


PATHS_ENV = "BENCH_OVERHEAD_PATHS"  # a file of request paths, one a line, that each worker answers once at start


def _warmed(app: Any) -> Any:
    """`app` after answering every path of PATHS_ENV once, in this worker: its memo is full before any timing."""
    client = app.test_client()
    for path in Path(os.environ[PATHS_ENV]).read_text("utf-8").split():
        client.get(path)
    return app


def searchsvc_app() -> Any:
    """searchsvc.wsgi's app with SearchService.search memoised."""
    from searchsvc.app import create_app

    app = create_app()
    service = app.extensions["searchsvc"].service
    service.search = memoised(service.search)
    return _warmed(app)


def fts5_app() -> Any:
    """The FTS5 peer's app with its Searcher.search memoised."""
    app = fts5_service.create_app()
    searcher = app.extensions["fts5"]
    searcher.search = memoised(searcher.search)
    return _warmed(app)


def one_client(server: serving.Server, paths: Sequence[str]) -> list[float]:
    """Each path once on one keep-alive connection: latencies in ms; anything but 200 raises."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    out = []
    try:
        for path in paths:
            began = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise serving.ServerError(f"{response.status} {path}: {body[:200]!r}")
            out.append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    return out


def alternate(servers: dict[str, serving.Server], paths: Sequence[str], rounds: int) -> dict[str, Any]:
    """`rounds` passes over `paths` on each server, alternating which goes first; per server the latency and
    the CPU ms its workers used per request."""
    for server in servers.values():
        for _ in range(2):  # warm-up: with reuse_port a new connection may land on either worker
            one_client(server, paths)
    ms: dict[str, list[float]] = {label: [] for label in servers}
    cpu: dict[str, float] = dict.fromkeys(servers, 0.0)
    labels = list(servers)
    for r in range(rounds):
        for label in labels if r % 2 == 0 else labels[::-1]:
            before = sum(servers[label].cpu().values())
            ms[label].extend(one_client(servers[label], paths))
            cpu[label] += sum(servers[label].cpu().values()) - before
    return {
        label: {**latency_summary(ms[label]), "worker_cpu_ms_per_request": round(cpu[label] * 1000 / len(ms[label]), 3)}
        for label in labels
    }


def core_cpu_ms(index_dir: Path, db: Path, mix: Sequence[queries.BenchQuery], rounds: int) -> dict[str, float]:
    """The CPU ms of each service's search function per query, in this process (cache off), mean over the mix."""
    from searchsvc.app import create_app

    service = create_app({"index_dir": str(index_dir), "cache_size": 0}).extensions["searchsvc"].service
    searcher = fts5_service.Searcher(db)
    requests = [q.request() for q in mix]
    texts = [str(q.params["q"]) for q in mix]
    out = {}
    for label, call in (
        ("searchsvc", lambda i: service.search(requests[i])),
        ("fts5", lambda i: searcher.search(texts[i])),
    ):
        for i in range(len(mix)):  # warm-up
            call(i)
        began = time.process_time()
        for _ in range(rounds):
            for i in range(len(mix)):
                call(i)
        out[label] = round((time.process_time() - began) * 1000 / (rounds * len(mix)), 3)
    return out


@contextlib.contextmanager
def servers(index_dir: Path, db: Path, workers: int, logs: Path, memo: bool) -> Iterator[dict[str, serving.Server]]:
    """searchsvc and the peer under gunicorn (searchsvc's worker settings for both), memoised or not."""
    conf = serving.searchsvc_gunicorn_settings()
    with (
        serving.gunicorn(
            index_dir,
            workers,
            logs / "overhead-searchsvc.log",
            app="bench.overhead:searchsvc_app()" if memo else None,
            cache_size=0,
        ) as ours,
        serving.fts5_gunicorn(
            db, workers, logs / "overhead-fts5.log", conf, app="bench.overhead:fts5_app()" if memo else None
        ) as peer,
    ):
        both = {"searchsvc": ours, "fts5": peer}
        for server in both.values():
            settled(server)
        yield both


def settled(server: serving.Server, quiet_s: float = 0.5, limit_s: float = 120) -> None:
    """Wait until the workers are idle (a memoised worker answers its paths once at start, after /ready)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = sum(server.cpu().values())
        time.sleep(quiet_s)
        if sum(server.cpu().values()) - before < 0.02:
            return


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6, help="passes over the mix per service (default 6)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers of both services (default 2)")
    p.add_argument("--queries", type=int, default=50, help="queries per category of the mix (default 50)")
    p.add_argument("--seed", type=int, default=1987)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding reuters21578/")
    p.add_argument("--index", type=Path, default=WORK / "index-x1", help="a searchsvc index of those articles")
    p.add_argument("--db", type=Path, default=WORK / "fts5-x1.db", help="the FTS5 database of those articles")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.index.is_dir() and args.db.is_file()):
        print(f"bench.overhead: skipped: no {args.index} or {args.db}; `make bench` builds both")
        return 0
    articles = reuters.load_articles(args.data / "reuters21578")
    mix = sidebyside.http_mix(queries.vocabulary(articles), args.queries, args.seed)
    paths = [q.path for q in mix]
    listing = WORK / "overhead-paths.txt"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("\n".join(paths) + "\n", "utf-8")
    os.environ[PATHS_ENV] = str(listing)  # the servers inherit it
    out: dict[str, Any] = {"load_start": load_average(), "requests_per_service": args.rounds * len(paths)}
    for memo in (True, False):
        with servers(args.index, args.db, args.workers, WORK / "logs", memo) as both:
            out["memoised" if memo else "real"] = alternate(both, paths, args.rounds)
    out["core_cpu_ms"] = core_cpu_ms(args.index, args.db, mix, max(1, args.rounds // 2))
    out["load_end"] = load_average()
    print(json.dumps(out, indent=1))
    print(render(out))
    return 0


def render(out: dict[str, Any]) -> str:
    lines = [
        "| service | HTTP layer p50 / p95 ms | its CPU ms a request | whole request p50 / p95 ms | CPU ms a request "
        "| search alone, CPU ms |",
        "|---|---|---|---|---|---|",
    ]
    for label in ("searchsvc", "fts5"):
        m, r, core = out["memoised"][label], out["real"][label], out["core_cpu_ms"][label]
        lines.append(
            f"| {label} | {m['p50']:.2f} / {m['p95']:.2f} | {m['worker_cpu_ms_per_request']:.2f} | "
            f"{r['p50']:.2f} / {r['p95']:.2f} | {r['worker_cpu_ms_per_request']:.2f} | {core:.2f} |"
        )
    lines.append(f"load average {out['load_start'][0]} at the start, {out['load_end'][0]} at the end")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
