"""`make bench`: Reuters-21578 -> JSONL -> `searchsvc index` and a SQLite FTS5 peer (bench/fts5_service.py) ->
in-process queries (the service vs the raw Whoosh query it builds, and the peer's search) -> both services under
gunicorn over HTTP, side by side, and how 8 keep-alive clients are split between the workers -> one table and
bench/results.json.

    python -m bench.run              quick: Reuters once (20,841 articles), a few minutes beyond indexing
    python -m bench.run --full       Reuters x5 (104,205 articles) over HTTP, plus an in-process point at x25
                                     (521,025 articles) showing how each engine grows

Needs only ../shared/data/reuters21578 (skips with a message, exit 0, when it is absent). Everything it writes
goes to bench/work/ and bench/results.json (both gitignored). An index left in bench/work by an earlier run of
the same size is brought up to date with `searchsvc index` (unchanged articles are skipped) rather than rebuilt,
unless --fresh-index; the table says which. The query mixes are seeded (--seed), so two runs send the same
requests in the same order.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import fts5_service, indexing, queries, reuters, serving, sidebyside
from bench.measure import ROOT, commit, latency_summary, load_average, machine, self_usage
from bench.report import render, targets, write_json

DEFAULT_DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "bench" / "work"
RESULTS = ROOT / "bench" / "results.json"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--full", action="store_true", help="Reuters x5 over HTTP and an in-process point at x25")
    p.add_argument("--copies", type=int, default=None, help="repeat Reuters this many times (default 1, 5 with --full)")
    p.add_argument(
        "--scale-copies",
        type=int,
        default=None,
        help="copies of the in-process scale point (default none, 25 with --full; 0: none)",
    )
    p.add_argument("--queries", type=int, default=30, help="queries per category in-process (default 30)")
    p.add_argument(
        "--http-queries", type=int, default=50, help="queries per category of the side-by-side mix (default 50)"
    )
    p.add_argument("--requests", type=int, default=2000, help="HTTP requests of each load run (default 2000)")
    p.add_argument("--trials", type=int, default=12, help="worker balance trials per configuration (default 12)")
    p.add_argument("--trial-requests", type=int, default=200, help="requests per balance trial (default 200)")
    p.add_argument("--rounds", type=int, default=2, help="rounds over the query mix in-process (default 2)")
    p.add_argument(
        "--http-rounds",
        type=int,
        default=None,
        help="rounds of the 1-client HTTP lane per service, the two taking turns (default 4; --full 10)",
    )
    p.add_argument("--clients", type=int, default=8, help="concurrent keep-alive HTTP clients (default 8)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers of both services (default 2)")
    p.add_argument("--seed", type=int, default=1987)
    p.add_argument("--smoke", action="store_true", help="a tiny run (300 articles) to try the code")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding reuters21578/")
    p.add_argument("--work", type=Path, default=WORK, help="scratch folder (default bench/work)")
    p.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON results")
    p.add_argument("--fresh-index", action="store_true", help="rebuild the searchsvc index from nothing")
    p.add_argument("--skip-http", action="store_true", help="no gunicorn phase")
    p.add_argument(
        "--indexing-extras",
        action="store_true",
        help="also time extraction on a slice at 1 and 2 workers and a plain Whoosh index (bench/plain.py)",
    )
    p.add_argument("--slice", type=int, default=2000, help="articles of the extraction slice (--indexing-extras)")
    p.add_argument("--slice-runs", type=int, default=3, help="runs of the 2-worker extraction slice; the median")
    p.add_argument("--levers", action="store_true", help="also measure what each feature costs, in-process")
    p.add_argument(
        "--worker-scaling",
        action="store_true",
        help="also the searchsvc-only HTTP runs: 1 vs 2 workers, raw Whoosh beside each request, the cache",
    )
    p.add_argument(
        "--http-levers",
        action="store_true",
        help="with --worker-scaling: 2 workers with worker_connections capped",
    )
    args = p.parse_args(argv)
    if args.copies is None:
        args.copies = 5 if args.full else 1
    if args.scale_copies is None:
        args.scale_copies = 25 if args.full else 0
    if args.http_rounds is None:
        args.http_rounds = 10 if args.full else 4
    if args.smoke:
        args.copies, args.slice, args.rounds, args.http_rounds = min(args.copies, 2), min(args.slice, 60), 1, 2
        args.scale_copies = min(args.scale_copies, 3)
        args.slice_runs = min(args.slice_runs, 2)
        args.queries, args.http_queries = min(args.queries, 3), min(args.http_queries, 5)
        args.requests, args.trials, args.trial_requests = min(args.requests, 120), min(args.trials, 2), 40
    args.limit = 300 if args.smoke else None
    for name in (
        "copies",
        "queries",
        "http_queries",
        "requests",
        "slice",
        "rounds",
        "http_rounds",
        "clients",
        "slice_runs",
        "workers",
        "trial_requests",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


class Phases:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self.load: dict[str, list[float]] = {}  # load average when each phase ended: others' work skews figures

    def run(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        print(f"[{time.perf_counter() - self.started:6.0f} s] {name} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[name] = round(time.perf_counter() - began, 1)
            self.load[name] = load_average()


def corpus_dir(work: Path, copies: int) -> Path:
    return work / f"corpus-x{copies}"


def index_dir_of(work: Path, copies: int) -> Path:
    return work / f"index-x{copies}"


def convert(args: argparse.Namespace, work: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    articles = reuters.load_articles(args.data / "reuters21578", limit=args.limit)
    data = reuters.convert(articles, corpus_dir(work, args.copies), args.copies)
    data["copies"] = args.copies
    if args.indexing_extras:
        slice_docs = articles[: args.slice]
        shutil.rmtree(work / "slice", ignore_errors=True)
        reuters.write_jsonl(slice_docs, work / "slice" / "slice.jsonl")
        data["slice_documents"] = len(slice_docs)
        data["slice_words"] = sum(reuters.count_words(d) for d in slice_docs)
    return articles, data


def build_phase(
    args: argparse.Namespace, work: Path, articles: list[dict[str, Any]], copies: int, phases: Phases
) -> dict[str, Any]:
    """The searchsvc index (brought up to date, or built fresh) and the FTS5 peer's database of `copies` x
    Reuters, and what each takes on disk."""
    corpus, index_dir = corpus_dir(work, copies), index_dir_of(work, copies)
    if copies != args.copies:
        reuters.convert(articles, corpus, copies)
    fresh = args.fresh_index or not (index_dir / "searchsvc.json").exists()
    built = phases.run(
        f"searchsvc index x{copies}" + (" (fresh)" if fresh else " (update)"),
        indexing.index_run,
        corpus,
        index_dir,
        2,
        work / "logs" / f"index-x{copies}.log",
        fresh=fresh,
    )
    built["fresh"] = fresh
    db = work / f"fts5-x{copies}.db"
    fts5 = phases.run(f"FTS5 database x{copies}", fts5_service.build, corpus, db)
    return {
        "copies": copies,
        "documents": copies * len(articles),
        "index_dir": str(index_dir),
        "fts5_db": str(db),
        "searchsvc_index": built,
        "disk": indexing.disk_breakdown(indexing.live_generation(index_dir)),
        "fts5": fts5,
    }


def inprocess_phase(
    build: dict[str, Any], mix: list[queries.BenchQuery], rounds: int, phases: Phases
) -> dict[str, Any]:
    """The side-by-side mix in this process: service.search (cache off, highlights on) against the raw Whoosh
    query it builds, the lanes in turn; then the FTS5 peer's search function."""
    runner = queries.Runner(Path(build["index_dir"]))
    try:
        ours = phases.run(
            f"in-process side-by-side mix x{build['copies']}", queries.run_inprocess, runner, mix, mix[:8], rounds
        )
    finally:
        runner.close()
    peer = phases.run(
        f"in-process FTS5 x{build['copies']}", sidebyside.fts5_inprocess, Path(build["fts5_db"]), mix, rounds
    )
    return {
        "copies": build["copies"],
        "documents": build["documents"],
        "searchsvc": ours["groups"]["plain"],
        "fts5": peer["all"],
        "searchsvc_errors": ours["errors"],
        "fts5_errors": peer["errors"],
    }


def side_by_side_phase(
    args: argparse.Namespace, build: dict[str, Any], mix: list[queries.BenchQuery], phases: Phases
) -> dict[str, Any]:
    """Both services under gunicorn with the same worker settings, the same requests; their answers compared;
    then the worker balance trials of searchsvc with one shared listening socket and with reuse_port."""
    work: Path = args.work
    logs = work / "logs"
    conf = serving.searchsvc_gunicorn_settings()
    load = sidebyside.load_order(mix, args.requests, args.seed)
    out: dict[str, Any] = {
        "gunicorn": {**conf, "workers": args.workers},
        "clients": args.clients,
        "requests": args.requests,
        "trial_requests": args.trial_requests,
        "queries": len(mix),
        "services": {},
    }
    index_dir, db = Path(build["index_dir"]), Path(build["fts5_db"])

    with contextlib.ExitStack() as stack:
        servers = {
            "searchsvc": stack.enter_context(
                serving.gunicorn(index_dir, args.workers, logs / "gunicorn-searchsvc.log", cache_size=0)
            ),
            "fts5": stack.enter_context(serving.fts5_gunicorn(db, args.workers, logs / "gunicorn-fts5.log", conf)),
        }
        ours, peer = (sidebyside.answers(servers[label], mix) for label in ("searchsvc", "fts5"))
        one = phases.run(
            "HTTP 1 client, searchsvc and FTS5 round by round", sidebyside.one_client, servers, mix, args.http_rounds
        )
        for label, name in (("searchsvc", "searchsvc"), ("fts5", "FTS5")):
            loaded = phases.run(f"HTTP load {name}", sidebyside.under_load, servers[label], mix, load, args.clients)
            out["services"][label] = {"one_client": one[label], **loaded}
    out["agreement"] = sidebyside.agreement(mix, ours, peer)

    if args.trials:
        with contextlib.ExitStack() as stack:
            servers = {}
            for label, reuse_port in (("one shared socket", False), ("reuse_port", True)):
                path = serving.conf_with_reuse_port(work / f"gunicorn-reuse-port-{reuse_port}.py", reuse_port)
                log = logs / f"gunicorn-balance-{reuse_port}.log"
                servers[label] = stack.enter_context(
                    serving.gunicorn(index_dir, args.workers, log, conf=path, cache_size=0)
                )
            balance = phases.run(
                "balance trials, one shared socket and reuse_port alternately",
                sidebyside.balance_trials,
                servers,
                mix,
                args.clients,
                args.trials,
                args.trial_requests,
                args.seed,
            )
        out["balance"] = {
            label: {**b, "deployed": (label == "reuse_port") == conf["reuse_port"]} for label, b in balance.items()
        }
    return out


def index_phase(args: argparse.Namespace, work: Path, data: dict[str, Any], phases: Phases) -> dict[str, Any]:
    """--indexing-extras: extraction throughput on a slice, a fresh full build, an unchanged re-run and a plain
    Whoosh index of the same text (the figures of issue 6)."""
    logs = work / "logs"
    corpus, index_dir = corpus_dir(work, args.copies), index_dir_of(work, args.copies)
    out: dict[str, Any] = {}
    for workers, key, runs in ((1, "slice_1_worker", 1), (2, "slice_2_workers", args.slice_runs)):
        results = []
        for run in range(1, runs + 1):
            results.append(
                phases.run(
                    f"index slice, {workers} worker(s)" + (f", run {run} of {runs}" if runs > 1 else ""),
                    indexing.index_run,
                    work / "slice",
                    work / f"index-slice-{workers}",
                    workers,
                    logs / f"index-slice-{workers}-{run}.log",
                )
            )
            shutil.rmtree(work / f"index-slice-{workers}", ignore_errors=True)
        # The median run (by wall time): the machine's speed drifts from one minute to the next.
        out[key] = {**sorted(results, key=lambda r: r["seconds"])[len(results) // 2], "runs": len(results)}
        out[key]["words_per_s_of_runs"] = [r["words_per_s"] for r in results]
    out["full"] = phases.run(
        "index full corpus, 2 workers",
        indexing.index_run,
        corpus,
        index_dir,
        2,
        logs / "index-full.log",
    )
    out["unchanged_rerun"] = phases.run(
        "re-run unchanged",
        indexing.index_run,
        corpus,
        index_dir,
        2,
        logs / "index-rerun.log",
        fresh=False,
    )
    out["unchanged_rerun"]["share_of_full"] = round(out["unchanged_rerun"]["seconds"] / out["full"]["seconds"], 3)
    out["plain_whoosh"] = phases.run(
        "plain Whoosh index",
        indexing.plain_run,
        corpus,
        work / "index-plain",
        logs / "index-plain.log",
    )
    shutil.rmtree(work / "index-plain", ignore_errors=True)
    full = out["full"]
    out["size_ratio"] = round(full["size_mb"] / out["plain_whoosh"]["size_mb"], 3)
    extracted_words = data["words"] // args.copies
    out["full"]["extracted_documents"] = data["unique_documents"]
    out["full"]["extracted_words_per_s"] = round(extracted_words / full["seconds"])
    out["notes"] = [
        f"slice = the first {data['slice_documents']:,} articles ({data['slice_words']:,} words), all "
        "unique: every one is extracted, so its words/s is the extraction throughput",
        f"full build: {data['unique_documents']:,} distinct texts extracted once each, the other "
        f"{data['documents'] - data['unique_documents']:,} copies reuse that extraction (the indexer keys it "
        f"by text + publication date); its words/s counts all {data['words']:,} words indexed, or "
        f"{full['extracted_words_per_s']:,} words/s counting only the words extracted",
        "cpu s = user+sys of the indexer and its extraction workers; peak RSS = the largest process (wait4)",
        f"slice with 2 workers: the median of {out['slice_2_workers']['runs']} runs; words/s of each run in "
        f"order: {', '.join(f'{w:,}' for w in out['slice_2_workers']['words_per_s_of_runs'])}",
    ]
    return out


def query_phase(
    args: argparse.Namespace, index_dir: Path, articles: list[dict[str, Any]], phases: Phases
) -> tuple[dict[str, Any], list[queries.BenchQuery], list[queries.BenchQuery]]:
    from searchsvc.app import create_app

    runner = queries.Runner(index_dir)
    try:
        vocab = queries.vocabulary(articles)
        entities = {
            kind: [e["name"] for e in runner.service.entities(kind, "", 40)] for kind in ("person", "org", "place")
        }
        accept = queries.expansion_ok(runner)
        mix = queries.query_mix(vocab, entities, args.queries, args.seed, accept)
        warmup = queries.query_mix(vocab, entities, 2, args.seed + 1, accept)
        inprocess = phases.run("queries in-process", queries.run_inprocess, runner, mix, warmup, args.rounds)

        def app_factory() -> Any:
            return create_app({"index_dir": str(index_dir), "cache_size": 0, "search_key": "", "log_level": "warning"})

        out = {"inprocess": inprocess, "entities_sampled": entities}
        if args.levers:
            out["levers"] = phases.run("levers in-process", queries.measure_levers, runner, mix, app_factory)
    finally:
        runner.close()
    return out, mix, warmup


def http_phase(
    args: argparse.Namespace,
    index_dir: Path,
    work: Path,
    mix: list[queries.BenchQuery],
    warmup: list[queries.BenchQuery],
    phases: Phases,
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    order = list(mix)
    load_requests: list[tuple[str, str]] = []
    while len(load_requests) < args.requests:
        rng.shuffle(order)
        load_requests.extend((q.category, q.path) for q in order)
    load_requests = load_requests[: args.requests]
    # Enough warm-up that every thread of every worker has opened its searcher (the first search on a thread
    # opens one) before anything is timed.
    warm = [(q.category, q.path) for q in warmup] * max(1, (8 * args.clients) // max(1, len(warmup)) + 1)
    out: dict[str, Any] = {"load": {}, "cache_size_during_load": 0}

    def paired_run(srv: serving.Server) -> dict[str, Any]:
        """1 client: every query of the mix over HTTP and as its raw Whoosh query, back to back."""
        runner = queries.Runner(index_dir)
        try:
            raw_queries = [runner.raw_query(q) for q in mix]
            samples = serving.paired(
                srv, [(q.category, q.path) for q in mix], lambda i: runner.raw(mix[i], raw_queries[i])[0], args.rounds
            )
        finally:
            runner.close()

        def group(categories: Sequence[str]) -> dict[str, Any]:
            http_ms = [ms for c in categories for ms in samples.get(c, {}).get("http", [])]
            raw_ms = [ms for c in categories for ms in samples.get(c, {}).get("raw", [])]
            raw = latency_summary(raw_ms)
            return {**latency_summary(http_ms), "raw_p50": raw["p50"], "raw_p95": raw["p95"]}

        return {
            "rounds": args.rounds,
            "groups": {"plain": group(queries.PLAIN), "hl+facets": group(["hl+facets"]), "all": group(list(samples))},
        }

    def load(workers: int, gunicorn_args: str = "", sequential: bool = False) -> dict[str, Any]:
        log = work / "logs" / f"gunicorn-{workers}{'-lever' if gunicorn_args else ''}.log"
        with serving.gunicorn(index_dir, workers, log, gunicorn_args, cache_size=0) as srv:
            serving.drive(srv, warm, args.clients)
            if sequential:
                out["sequential_1worker"] = paired_run(srv)
            before = srv.cpu()
            result = serving.drive(srv, load_requests, args.clients)
            after = srv.cpu()
            result.pop("_samples")
            result["workers"] = srv.memory()
            for worker in result["workers"]:
                pid = int(worker["pid"])
                worker["cpu_s_during_load"] = round(after.get(pid, 0.0) - before.get(pid, 0.0), 1)
            return result

    out["load"]["1"] = phases.run("HTTP load, 1 worker", load, 1, sequential=True)
    out["load"]["2"] = phases.run("HTTP load, 2 workers", load, 2)
    # gthread workers accept every connection they can (worker_connections, default 1000): a few keep-alive
    # clients can all land on one worker. Capping it spreads them; measured, not applied (gunicorn_conf.py).
    if args.http_levers:
        cap = args.clients // 2 + 1
        out["levers"] = {
            f"2 workers, worker_connections={cap}": phases.run(
                "HTTP lever: worker_connections", load, 2, f"--worker-connections {cap}"
            )
        }

    def cached() -> dict[str, Any]:
        with serving.gunicorn(index_dir, 1, work / "logs" / "gunicorn-cache.log") as srv:
            serving.drive(srv, warm, 1)
            return serving.repeated(srv, [q.path for q in mix[:200]])

    out["cached_repeat"] = phases.run("HTTP repeated requests, default cache", cached)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reuters_dir = args.data / "reuters21578"
    if not reuters.sgml_files(reuters_dir):
        print(
            f"bench: skipped: no Reuters-21578 SGML files in {reuters_dir} (the benchmark needs "
            "../shared/data/reuters21578; pass --data to point elsewhere)"
        )
        return 0
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    phases = Phases()
    results: dict[str, Any] = {
        "machine": machine(),
        "commit": commit(),
        "load_start": load_average(),
        "mode": "full" if args.full else ("smoke" if args.smoke else "quick"),
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    articles, data = phases.run("convert Reuters-21578", convert, args, work)
    results["data"] = data
    if args.indexing_extras:
        results["indexing"] = index_phase(args, work, data, phases)
    build = build_phase(args, work, articles, args.copies, phases)
    results["build"] = build
    index_dir = Path(build["index_dir"])
    q, mix, warmup = query_phase(args, index_dir, articles, phases)
    results["queries"] = q
    peer_mix = sidebyside.http_mix(queries.vocabulary(articles), args.http_queries, args.seed)
    results["scales"] = [inprocess_phase(build, peer_mix, args.rounds, phases)]
    if not args.skip_http:
        results["side_by_side"] = side_by_side_phase(args, build, peer_mix, phases)
        if args.worker_scaling:
            results["http"] = http_phase(args, index_dir, work, mix, warmup, phases)
    if args.scale_copies and args.scale_copies != args.copies:
        scale = build_phase(args, work, articles, args.scale_copies, phases)
        results["scale_build"] = scale
        results["scales"].append(inprocess_phase(scale, peer_mix, args.rounds, phases))
    results["targets"] = targets(results)
    results["load_end"] = load_average()
    results["bench_process"] = self_usage()
    results["phase_seconds"] = phases.seconds
    results["phase_load_average"] = phases.load
    results["seconds"] = round(time.perf_counter() - phases.started, 1)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    write_json(results, args.results)
    print(render(results))
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
