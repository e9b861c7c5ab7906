"""searchsvc and the SQLite FTS5 peer (bench/fts5_service.py) measured the same way over HTTP: the same seeded
mix of terms, ORs, ANDs and phrases, top 10 with highlights, result cache off, the same gunicorn worker
settings; plus how 8 keep-alive clients connecting at once are split between the workers (issue 16)."""

from __future__ import annotations

import functools
import http.client
import json
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import serving
from bench.fts5_service import QuerySyntaxError, Searcher
from bench.measure import latency_summary, percentile
from bench.queries import BenchQuery, Vocabulary, make_query

# What both services answer with the same meaning (fts5_service.to_match).
PEER_CATEGORIES = ("term", "or", "and", "phrase")


def http_mix(vocab: Vocabulary, per_category: int, seed: int) -> list[BenchQuery]:
    """`per_category` distinct queries of each of PEER_CATEGORIES, highlights on, in a seeded shuffled order."""
    rng = random.Random(seed)
    out: list[BenchQuery] = []
    for category in PEER_CATEGORIES:
        seen: set[str] = set()
        attempts = 0
        while len(seen) < per_category and attempts < per_category * 50:
            attempts += 1
            params = {**make_query(category, rng, vocab, {}), "highlight": "true"}
            query = BenchQuery(category, params)
            if query.path not in seen:
                seen.add(query.path)
                out.append(query)
    rng.shuffle(out)
    return out


def load_order(mix: Sequence[BenchQuery], n: int, seed: int) -> list[tuple[str, str]]:
    """`n` requests: the mix over and over, each pass shuffled (seeded)."""
    rng = random.Random(seed)
    order = list(mix)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        rng.shuffle(order)
        out.extend((q.category, q.path) for q in order)
    return out[:n]


def split_label(counts: Sequence[int]) -> str:
    """[5, 3] -> "5:3"."""
    return ":".join(str(c) for c in counts)


# -- one service ------------------------------------------------------------------------------------------------
def answers(server: serving.Server, mix: Sequence[BenchQuery]) -> list[dict[str, Any]]:
    """Each query's total and top-10 ids, one keep-alive connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    out = []
    try:
        for q in mix:
            conn.request("GET", q.path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise serving.ServerError(f"{response.status} {q.path}: {body[:200]!r}")
            data = json.loads(body)
            out.append({"total": data["total"], "ids": [h["id"] for h in data["hits"]]})
    finally:
        conn.close()
    return out


def one_client(servers: Mapping[str, serving.Server], mix: Sequence[BenchQuery], rounds: int) -> dict[str, Any]:
    """One keep-alive client over the mix `rounds` times per server (latency without queueing), the servers
    taking turns round by round and alternating which goes first, so that both meet the same moments of the
    machine: the median of a single run of one service after the other moved 10-20 % between runs. Per label,
    drive()'s summary over all its rounds."""
    requests = [(q.category, q.path) for q in mix]
    for server in servers.values():
        serving.drive(server, requests, 1)  # warm-up: the connection's thread has served the mix once
    samples: dict[str, dict[str, list[float]]] = {label: defaultdict(list) for label in servers}
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in servers}
    labels = list(servers)
    for rnd in range(rounds):
        for label in labels if rnd % 2 == 0 else labels[::-1]:
            r = serving.drive(servers[label], requests, 1)
            for category, ms in r.pop("_samples").items():
                samples[label][category].extend(ms)
            runs[label].append(r)
    out = {}
    for label in labels:
        by_category = samples[label]
        seconds = sum(r["seconds"] for r in runs[label])
        count = sum(r["requests"] for r in runs[label])
        out[label] = {
            "clients": 1,
            "rounds": rounds,
            "requests": count,
            "seconds": round(seconds, 2),
            "req_per_s": round(count / seconds, 1) if seconds else 0.0,
            "latency_ms": latency_summary([ms for v in by_category.values() for ms in v]),
            "round_p50s": [r["latency_ms"]["p50"] for r in runs[label]],
            "categories": {c: latency_summary(v) for c, v in sorted(by_category.items())},
            "errors": sum(r["errors"] for r in runs[label]),
            "error_examples": [e for r in runs[label] for e in r["error_examples"]][:5],
        }
    return out


def under_load(
    server: serving.Server, mix: Sequence[BenchQuery], load_requests: Sequence[tuple[str, str]], clients: int
) -> dict[str, Any]:
    """Warm every worker thread, then `clients` keep-alive clients over `load_requests` (throughput, p99, the
    connection split), and each worker's memory and CPU time during the load."""
    serving.drive(server, [(q.category, q.path) for q in mix], clients)  # warm-up: every thread has served
    before = server.cpu()
    load = serving.drive(server, load_requests, clients, on_connected=lambda: serving.connection_split(server))
    after = server.cpu()
    workers = server.memory()
    for worker in workers:
        pid = int(worker["pid"])
        worker["cpu_s_during_load"] = round(after.get(pid, 0.0) - before.get(pid, 0.0), 1)
    load.pop("_samples")
    return {"load": load, "workers": workers, "split": load["connected"]}


def balance_trials(
    servers: Mapping[str, serving.Server],
    mix: Sequence[BenchQuery],
    clients: int,
    trials: int,
    per_trial: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """`trials` bursts of `clients` keep-alive connections opened at once, `per_trial` requests each burst, on
    each server in turn (alternating which goes first, so both meet the same background load): per server, the
    split of the connections between its workers and the latencies of the bursts."""
    requests = [(q.category, q.path) for q in mix]
    for server in servers.values():
        serving.drive(server, requests, clients)  # warm-up
    bursts: dict[str, list[dict[str, Any]]] = {label: [] for label in servers}
    all_ms: dict[str, list[float]] = {label: [] for label in servers}
    labels = list(servers)
    for t in range(trials):
        order = load_order(mix, per_trial, seed + t)
        for label in labels if t % 2 == 0 else labels[::-1]:
            server = servers[label]
            r = serving.drive(server, order, clients, on_connected=functools.partial(serving.connection_split, server))
            all_ms[label].extend(x for v in r.pop("_samples").values() for x in v)
            bursts[label].append(
                {
                    "split": split_label(r["connected"]),
                    "req_per_s": r["req_per_s"],
                    "p99": r["latency_ms"]["p99"],
                    "errors": r["errors"],
                }
            )
            time.sleep(0.2)  # the closed connections leave the workers before the next burst
    return {label: _trials_summary(bursts[label], all_ms[label], clients) for label in labels}


def _trials_summary(out: list[dict[str, Any]], all_ms: list[float], clients: int) -> dict[str, Any]:
    worst = [max(int(c) for c in x["split"].split(":")) for x in out]
    return {
        "trials": out,
        "splits": dict(Counter(x["split"] for x in out).most_common()),
        "uneven_trials": sum(1 for w in worst if w * 2 > clients + 2),  # worse than 5:3 for 8 clients
        "p99_pooled": round(percentile(all_ms, 99), 2),
        "p99_median_of_trials": round(statistics.median(x["p99"] for x in out), 2),
        "req_per_s_median": round(statistics.median(x["req_per_s"] for x in out), 1),
        "errors": sum(x["errors"] for x in out),
    }


# -- the two services' answers side by side ---------------------------------------------------------------------
def agreement(
    mix: Sequence[BenchQuery], ours: Sequence[Mapping[str, Any]], peer: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Per category: queries, those with no hit in either, the median share of searchsvc's top 10 that the
    peer's top 10 also holds, and the median ratio of the peer's total to searchsvc's (both bounded at 1,000)."""
    out: dict[str, Any] = {}
    for category in PEER_CATEGORIES:
        rows = [(a, b) for q, a, b in zip(mix, ours, peer, strict=True) if q.category == category]
        if not rows:
            continue
        overlap = [len(set(a["ids"]) & set(b["ids"])) / len(a["ids"]) for a, b in rows if a["ids"]]
        totals = [b["total"] / a["total"] for a, b in rows if a["total"]]
        out[category] = {
            "n": len(rows),
            "empty_searchsvc": sum(1 for a, _ in rows if not a["total"]),
            "empty_fts5": sum(1 for _, b in rows if not b["total"]),
            "top10_overlap_median": round(statistics.median(overlap), 2) if overlap else None,
            "total_ratio_median": round(statistics.median(totals), 2) if totals else None,
        }
    return out


def fts5_inprocess(db: Path, mix: Sequence[BenchQuery], rounds: int) -> dict[str, Any]:
    """The peer's search function in this process (no HTTP), ms, per category and overall."""
    searcher = Searcher(db)
    by_category: dict[str, list[float]] = {}
    errors = 0
    for q in mix:  # warm-up
        try:
            searcher.search(str(q.params["q"]))
        except QuerySyntaxError:
            pass
    for _ in range(rounds):
        for q in mix:
            started = time.perf_counter()
            try:
                searcher.search(str(q.params["q"]), highlight=str(q.params.get("highlight")) == "true")
            except QuerySyntaxError:
                errors += 1
                continue
            by_category.setdefault(q.category, []).append((time.perf_counter() - started) * 1000)
    return {
        "categories": {c: latency_summary(v) for c, v in sorted(by_category.items())},
        "all": latency_summary([x for v in by_category.values() for x in v]),
        "errors": errors,
    }
