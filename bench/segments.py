"""Lever check, not part of `make bench`: what one Whoosh searcher costs in memory with compound segment
files (Whoosh's default, what the indexer writes today) and without, on the same documents.

    python -m bench.segments [--docs 20841]      (needs the index an earlier `make bench` left in bench/work)

Whoosh-Reloaded opens a compound segment through a BufferFile, which copies each sub-file out of the mmap
into a BytesIO: every searcher holds its own copy of the postings and stored fields. The service opens one
searcher per gunicorn thread, so a worker's memory is about threads x that. The documents are copied from
the bench index's stored fields (no extraction), written once per setting, and each index is probed in a
fresh process (memory after 1..4 searchers, each running one query); query speed is compared in one
process, interleaved.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import ROOT, percentile, run_child

WORK = ROOT / "bench" / "work"
PROBE_WORDS = ("oil", "trade", "bank", "dollar", "wheat", "japan", "profit", "tax", "coffee", "gold", "rates")


def _status_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def probe(index_dir: Path) -> dict[str, Any]:
    """Memory after opening 0..4 searchers on the index (each runs one query)."""
    from whoosh import index as whoosh_index
    from whoosh.query import Term

    ix = whoosh_index.open_dir(str(index_dir))
    memory = [_status_mb()]
    searchers = []
    for _ in range(4):
        searcher = ix.searcher()
        searcher.search(Term("body", "oil"), limit=10)
        searchers.append(searcher)
        memory.append(_status_mb())
    return {"memory_mb": memory}


def compare(dirs: list[Path], rounds: int = 5) -> dict[str, float]:
    """Raw p50 (ms) of the same one-word queries on each index, interleaved in one process."""
    from whoosh import index as whoosh_index
    from whoosh.query import Or, Term

    searchers = {str(d): whoosh_index.open_dir(str(d)).searcher() for d in dirs}
    ms: dict[str, list[float]] = {k: [] for k in searchers}
    for rnd in range(rounds):
        for i, word in enumerate(PROBE_WORDS):
            q = Or([Term("title", word), Term("body", word)])
            order = list(searchers.items())
            for name, searcher in order if (i + rnd) % 2 else order[::-1]:
                started = time.perf_counter()
                for hit in searcher.search(q, limit=10):
                    hit["id"]
                if rnd:  # the first round warms both
                    ms[name].append((time.perf_counter() - started) * 1000)
    return {k: round(percentile(v, 50), 2) for k, v in ms.items()}


def rewrite(source: Path, target: Path, docs: int, compound: bool) -> dict[str, Any]:
    from whoosh import index as whoosh_index

    from searchsvc.schema import build_schema, fields_from_stored
    from searchsvc.store import IndexStore

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    src, _ = IndexStore(source).open()
    ix = whoosh_index.create_in(str(target), build_schema())
    started = time.perf_counter()
    writer = ix.writer(limitmb=256, compound=compound)
    with src.searcher() as searcher:
        for n, stored in enumerate(searcher.all_stored_fields()):
            if n >= docs:
                break
            writer.add_document(**fields_from_stored(stored))
    writer.commit()
    size = sum(p.stat().st_size for p in target.iterdir() if p.is_file())
    return {"seconds": round(time.perf_counter() - started, 1), "size_mb": round(size / 1e6, 1)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.segments", description=__doc__)
    p.add_argument("--docs", type=int, default=20_841)
    p.add_argument("--index", type=Path, default=WORK / "index")
    p.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--compare", type=Path, nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return
    if args.compare:
        print(json.dumps(compare(args.compare)))
        return
    if not (args.index / "searchsvc.json").exists():
        raise SystemExit(f"no index in {args.index}: run `make bench` first")
    results = {}
    targets = {}
    for compound in (True, False):
        target = WORK / f"segments-compound-{str(compound).lower()}"
        built = rewrite(args.index, target, args.docs, compound)
        run = run_child([sys.executable, "-m", "bench.segments", "--probe", str(target)])
        if run.returncode != 0:
            raise SystemExit(run.stderr)
        results[f"compound={compound}"] = {**built, **json.loads(run.stdout)}
        targets[f"compound={compound}"] = target
    run = run_child([sys.executable, "-m", "bench.segments", "--compare", *map(str, targets.values())])
    if run.returncode != 0:
        raise SystemExit(run.stderr)
    p50 = json.loads(run.stdout)
    for name, target in targets.items():
        results[name]["query_p50_ms"] = p50[str(target)]
        shutil.rmtree(target, ignore_errors=True)
    for name, r in results.items():
        rss = [m["VmRSS"] for m in r["memory_mb"]]
        per = round((rss[-1] - rss[0]) / 4, 1)
        print(
            f"{name:15} {args.docs:,} docs, {r['size_mb']} MB on disk: RSS after 0..4 searchers {rss} MB "
            f"(~{per} MB per searcher), raw query p50 {r['query_p50_ms']} ms"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
