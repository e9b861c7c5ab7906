"""The one table a run prints, the targets of issue 6 checked against the figures, and results.json."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.queries import CATEGORIES


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        return indent + "  ".join([first, *(v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))])

    return [line(list(headers)), *(line(r) for r in cells)]


def targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the figure it is judged on and whether it is met (None: not measured)."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, goal: str, ok: bool | None, basis: str) -> None:
        out.append({"target": name, "value": value, "goal": goal, "met": ok, "basis": basis})

    q = results.get("queries", {}).get("inprocess", {}).get("groups", {})
    http = results.get("http", {})
    plain_raw = q.get("plain", {})
    hl_raw = q.get("hl+facets", {})
    seq_groups = http.get("sequential_1worker", {}).get("groups", {})
    if seq_groups:
        basis = "1 client, 1 worker, cache off; raw run back to back with each request"

        def vs_raw(group: Mapping[str, Any], fallback: Mapping[str, Any], p: str) -> float | None:
            return _div(group.get(p), group.get(f"raw_{p}") or fallback.get(f"raw_{p}"))

        s = seq_groups.get("plain", {})
        p50, p95 = vs_raw(s, plain_raw, "p50"), vs_raw(s, plain_raw, "p95")
        add("HTTP p50 / raw p50, plain", p50, "<= 1.3", _le(p50, 1.3), basis)
        add("HTTP p95 / raw p95, plain", p95, "<= 1.5", _le(p95, 1.5), basis)
        r = vs_raw(seq_groups.get("hl+facets", {}), hl_raw, "p95")
        add("HTTP p95 / raw p95, highlights+facets", r, "<= 3", _le(r, 3.0), basis)
    cache = http.get("cached_repeat", {})
    if cache:
        add(
            "repeated request p50 (ms)",
            cache.get("p50"),
            "< 2",
            _lt(cache.get("p50"), 2.0),
            "HTTP, 1 worker, default cache",
        )
    loads = http.get("load", {})
    if "1" in loads and "2" in loads:
        scale = _div(loads["2"]["req_per_s"], loads["1"]["req_per_s"])
        add("req/s 2 workers / 1 worker", scale, ">= 1.7", _ge(scale, 1.7), f"{loads['1']['clients']} clients")
        errors = sum(v.get("errors", 0) for v in loads.values()) + sum(
            v.get("errors", 0) for v in (http.get("sequential_1worker", {}), cache)
        )
        add("HTTP errors", errors, "0", errors == 0, "every HTTP request of the run")
        rss = max((w.get("peak_rss_mb", 0) for v in loads.values() for w in v.get("workers", [])), default=None)
        add("peak RSS per serving worker (MB)", rss, "<= 500", _le(rss, 500), "VmHWM of each worker")
    sbs = results.get("side_by_side", {}).get("services", {})
    ours, peer = sbs.get("searchsvc"), sbs.get("fts5")
    docs = results.get("build", {}).get("documents")
    if ours and peer:
        basis = f"{docs:,} articles over HTTP, same mix, cache off, highlights (issue 16 asks at 104,205)"
        o1, p1 = ours["one_client"]["latency_ms"], peer["one_client"]["latency_ms"]
        ol, pl = ours["load"], peer["load"]
        add("1-client p50 / FTS5's", _div(o1["p50"], p1["p50"]), "<= 1", _le(_div(o1["p50"], p1["p50"]), 1), basis)
        add("1-client p95 / FTS5's", _div(o1["p95"], p1["p95"]), "<= 1", _le(_div(o1["p95"], p1["p95"]), 1), basis)
        rps = _div(ol["req_per_s"], pl["req_per_s"])
        add(f"req/s at {ol['clients']} connections / FTS5's", rps, ">= 1", _ge(rps, 1), basis)
        p99 = _div(ol["latency_ms"]["p99"], pl["latency_ms"]["p99"])
        add(f"p99 at {ol['clients']} connections / FTS5's", p99, "<= 1.5", _le(p99, 1.5), basis)
        rss = max((w.get("peak_rss_mb", 0) for w in ours.get("workers", [])), default=None)
        add("peak RSS per searchsvc worker (MB)", rss, "< 200", _lt(rss, 200), f"VmHWM, {docs:,} articles")
        pss = max((w.get("pss_mb", 0) for w in ours.get("workers", [])), default=None)
        add(
            "PSS per searchsvc worker (MB)",
            pss,
            "< 200",
            _lt(pss, 200),
            "after the load: shared index pages counted once across the workers, not once in each",
        )
    for scale in results.get("scales", []):
        s = scale["searchsvc"]
        basis = (
            f"in-process, {scale['documents']:,} articles, terms/OR/AND/phrases, top 10 without highlights both "
            "(issue 16 asks at 104k, 521k)"
        )
        lane = "bare" if s.get("bare_p50") is not None and not math.isnan(s["bare_p50"]) else "svc"
        x50, x95 = _div(s["raw_p50"], s[f"{lane}_p50"]), _div(s["raw_p95"], s[f"{lane}_p95"])
        add(f"raw Whoosh p50 / kernel p50, {scale['documents']:,}", x50, ">= 10", _ge(x50, 10), basis)
        add(f"raw Whoosh p95 / kernel p95, {scale['documents']:,}", x95, ">= 5", _ge(x95, 5), basis)
    idx = results.get("indexing", {})
    w2 = idx.get("slice_2_workers")
    if w2:
        add(
            "indexing words/s with extraction, 2 workers",
            w2["words_per_s"],
            ">= 10,000",
            _ge(w2["words_per_s"], 10_000),
            f"{w2['documents']:,} unique articles, every one extracted"
            + (f"; median of {w2['runs']} runs" if w2.get("runs", 1) > 1 else ""),
        )
    full, rerun = idx.get("full"), idx.get("unchanged_rerun")
    if full and rerun:
        share = _div(rerun["seconds"], full["seconds"])
        add("unchanged re-run / full run", share, "< 0.10", _lt(share, 0.10), "wall seconds")
    plain = idx.get("plain_whoosh")
    if full and plain and full.get("size_mb"):
        size = _div(full["size_mb"], plain["size_mb"])
        add("index size / plain Whoosh", size, "<= 1.3", _le(size, 1.3), "bytes on disk, same text")
    return out


def _div(a: Any, b: Any) -> float | None:
    if a is None or b is None or not b or (isinstance(a, float) and math.isnan(a)):
        return None
    return round(a / b, 2)


def _le(v: Any, limit: float) -> bool | None:
    return None if v is None else v <= limit


def _lt(v: Any, limit: float) -> bool | None:
    return None if v is None else v < limit


def _ge(v: Any, limit: float) -> bool | None:
    return None if v is None else v >= limit


def render(results: Mapping[str, Any]) -> str:
    lines: list[str] = []
    m, c, data = results["machine"], results["commit"], results.get("data", {})
    dirty = " (uncommitted changes)" if c.get("dirty") else ""
    lines.append(
        f"searchsvc benchmark: {data.get('documents', 0):,} Reuters-21578 articles "
        f"({data.get('unique_documents', 0):,} unique x {data.get('copies', 0)}), "
        f"{data.get('words', 0):,} words"
    )
    lines.append(
        f"  {m['cpu_count']} CPUs, {m['memory_gb']} GB, Python {m['python']}, {m['platform']}; "
        f"commit {(c.get('commit') or '?')[:12]}{dirty}; load average at start {results.get('load_start')}, "
        f"end {results.get('load_end')}"
    )
    idx = results.get("indexing")
    if idx:
        lines.append("")
        lines.append("indexing (searchsvc index, one child process per run)")
        rows = []
        for key, label in (
            ("slice_1_worker", "extraction slice, 1 worker"),
            ("slice_2_workers", "extraction slice, 2 workers"),
            ("full", "full build, 2 workers"),
            ("unchanged_rerun", "unchanged re-run"),
            ("plain_whoosh", "plain Whoosh, no extraction"),
        ):
            r = idx.get(key)
            if r:
                rows.append(
                    [
                        label,
                        r["documents"],
                        r.get("words"),
                        r["seconds"],
                        r.get("docs_per_s"),
                        r.get("words_per_s"),
                        r.get("cpu_seconds"),
                        r.get("peak_rss_mb"),
                        r.get("size_mb"),
                        r.get("segments"),
                    ]
                )
        lines += table(
            [
                "run",
                "docs",
                "words",
                "wall s",
                "docs/s",
                "words/s",
                "cpu s",
                "peak RSS MB",
                "size MB",
                "segs",
            ],
            rows,
        )
        files = (idx.get("full") or {}).get("files_mb") or {}
        plain_files = (idx.get("plain_whoosh") or {}).get("files_mb") or {}
        if files:

            def group(sizes: Mapping[str, float]) -> dict[str, float]:
                out = {
                    "postings": sizes.get("pst", 0.0),
                    "terms": sizes.get("trm", 0.0),
                    "stored": sizes.get("_stored.col", 0.0),
                }
                out["columns"] = round(sum(sizes.values()) - sum(out.values()), 2)
                return out

            mine, plain_g = group(files), group(plain_files)
            lines.append(
                "  index files MB, full / plain: "
                + ", ".join(f"{k} {_fmt(v)} / {_fmt(plain_g.get(k))}" for k, v in mine.items())
            )
            cols = [(k, v) for k, v in files.items() if k.endswith(".col") and k != "_stored.col"][:6]
            lines.append("  largest columns MB: " + ", ".join(f"{k} {_fmt(v)}" for k, v in cols))
        for note in idx.get("notes", []):
            lines.append(f"  note: {note}")
    q = results.get("queries", {}).get("inprocess")
    if q:
        lines.append("")
        lines.append(
            f"queries in-process: service.search (cache off) vs the raw Whoosh query it builds, ms "
            f"({q['queries']} queries x {q['rounds']} rounds, the lanes in turn)"
        )
        columns = ("n", "raw_p50", "raw_p95", "svc_p50", "svc_p95", "p50_ratio", "p95_ratio")
        by_category = q["categories"]
        rows = [[name, *(by_category[name][c] for c in columns), by_category[name]["errors"]] for name in CATEGORIES]
        rows += [[f"[{name}]", *(q["groups"][name][c] for c in columns), ""] for name in ("plain", "all")]
        lines += table(["category", "n", "raw p50", "raw p95", "svc p50", "svc p95", "x p50", "x p95", "err"], rows)
        lines.append(
            "  plain = term, or, and, phrase; raw = searcher.search(q, limit=offset+10) + stored id/title "
            "(sortedby the column for date sorts)"
        )
    levers = results.get("queries", {}).get("levers")
    if levers:
        lines.append("")
        lines.append("levers (same queries, A/B interleaved, ms)")
        rows = []
        for key in (
            "raw_exact_count",
            "service_count",
            "service_count_filtered",
            "auto_vs_any",
            "highlight",
            "facets",
            "hl+facets",
            "deep offset",
            "date sort",
            "flask_in_process",
        ):
            r = levers.get(key)
            if not r:
                continue
            a, b = [k[:-4] for k in r if k.endswith("_p50") and not k.startswith("p50")][:2]
            rows.append(
                [
                    r["lever"],
                    f"{a} / {b}",
                    r[a + "_p50"],
                    r[b + "_p50"],
                    r[a + "_p95"],
                    r[b + "_p95"],
                    r["p50_cost_ms"],
                    r["p50_ratio"],
                ]
            )
        lines += table(["lever", "A / B", "A p50", "B p50", "A p95", "B p95", "A-B p50", "A/B p50"], rows)
        j, b, ch = levers.get("json_us", {}), levers.get("query_build_us", {}), levers.get("cache_hit", {})
        lines.append(
            f"  query build p50 {b.get('p50')} us; response dict p50 {j.get('to_json_p50')} us, orjson "
            f"{j.get('orjson_p50')} us, stdlib json {j.get('stdlib_json_p50')} us "
            f"({j.get('response_bytes_p50')} bytes p50); cache hit in-process p50 {ch.get('p50')} ms"
        )
    http = results.get("http")
    if http:
        lines.append("")
        load = http.get("load", {})
        any_load: dict[str, Any] = next(iter(load.values()), {})
        lines.append(
            f"HTTP: gunicorn (gthread), {any_load.get('clients', '?')} keep-alive clients, "
            f"{any_load.get('requests', '?')} requests of the same mix, result cache off"
        )
        rows = []
        runs = [(f"{w} worker{'s' if w != '1' else ''}", r) for w, r in sorted(load.items())]
        runs += [(f"lever: {name}", r) for name, r in http.get("levers", {}).items()]
        for label, r in runs:
            workers = r.get("workers", [])
            lat = r["latency_ms"]
            cpu = sum(w.get("cpu_s_during_load") or 0 for w in workers)
            rows.append(
                [
                    label,
                    r["req_per_s"],
                    lat["p50"],
                    lat["p95"],
                    lat["p99"],
                    r["errors"],
                    r.get("reconnects"),
                    " ".join(_fmt(w.get("peak_rss_mb")) for w in workers),
                    " ".join(_fmt(w.get("anon_mb")) for w in workers),
                    " ".join(_fmt(w.get("cpu_s_during_load")) for w in workers),
                    round(cpu / r["seconds"], 2) if r.get("seconds") else None,
                ]
            )
        lines += table(
            [
                "server",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "reconn",
                "peak RSS MB",
                "anon MB",
                "cpu s/worker",
                "cores used",
            ],
            rows,
        )
        lines.append(
            "  peak RSS = VmHWM of each worker after the load; anon = RssAnon (the rest is mapped index "
            "file); cores used = worker CPU seconds / wall seconds"
        )
        seq = http.get("sequential_1worker")
        if seq:
            lines.append(
                "  1 client, 1 worker, cache off (latency without queueing), each request and its raw Whoosh "
                "query in-process back to back, ms:"
            )
            rows = []
            groups = results.get("queries", {}).get("inprocess", {})
            for name, r in seq.get("groups", {}).items():
                raw = (
                    r
                    if "raw_p50" in r
                    else (groups.get("groups", {}).get(name) or groups.get("categories", {}).get(name) or {})
                )
                rows.append(
                    [
                        name,
                        r["n"],
                        raw.get("raw_p50"),
                        raw.get("raw_p95"),
                        r["p50"],
                        r["p95"],
                        _div(r["p50"], raw.get("raw_p50")),
                        _div(r["p95"], raw.get("raw_p95")),
                    ]
                )
            lines += table(["group", "n", "raw p50", "raw p95", "http p50", "http p95", "x p50", "x p95"], rows)
        cache = http.get("cached_repeat")
        if cache:
            lines.append(
                f"  repeated identical request over HTTP (default cache): p50 {cache['p50']} ms, "
                f"p95 {cache['p95']} ms, n {cache['n']}"
            )
    lines += render_side_by_side(results)
    t = results.get("targets")
    if t:
        lines.append("")
        lines.append("targets (issues 6 and 16)")
        rows = [
            [
                x["target"],
                x["value"],
                x["goal"],
                {True: "met", False: "MISSED", None: "-"}[x["met"]],
                x["basis"],
            ]
            for x in t
        ]
        lines += table(["target", "value", "goal", "", "measured on"], rows)
    lines.append("")
    load = results.get("phase_load_average", {})
    lines.append(f"total {results.get('seconds', 0):.0f} s; phases (seconds, 1-min load average at the end):")
    lines += table(
        ["phase", "s", "load"],
        [[k, v, (load.get(k) or [None])[0]] for k, v in results.get("phase_seconds", {}).items()],
    )
    return "\n".join(lines)


def _rounds(sbs: Mapping[str, Any]) -> str:
    rounds = sbs["services"].get("searchsvc", {}).get("one_client", {}).get("rounds")
    return f"{rounds} rounds" if rounds else "rounds"


def render_side_by_side(results: Mapping[str, Any]) -> list[str]:
    """The issue 16 tables: searchsvc and the FTS5 peer over HTTP, their answers compared, the worker balance
    trials, disk and memory, and the in-process engines at each scale."""
    lines: list[str] = []
    build = results.get("build")
    sbs = results.get("side_by_side")
    if sbs and build:
        g = sbs["gunicorn"]
        lines.append("")
        lines.append(
            f"side by side over HTTP: {build['documents']:,} articles, {sbs['queries']} queries (terms, OR, AND, "
            f"phrases; top 10 with highlights; cache off); gunicorn {g['workers']} workers, {g['worker_class']} "
            f"x {g['threads']} threads, reuse_port {g['reuse_port']}; 1 client: the mix x {_rounds(sbs)} per service, "
            "the two taking turns; "
            f"{sbs['clients']} keep-alive connections opened at once: {sbs['requests']} requests"
        )
        rows = []
        for name, label in (("searchsvc", "searchsvc"), ("fts5", "Flask + SQLite FTS5")):
            r = sbs["services"].get(name)
            if not r:
                continue
            one, load = r["one_client"]["latency_ms"], r["load"]
            rows.append(
                [
                    label,
                    one["p50"],
                    one["p95"],
                    load["req_per_s"],
                    load["latency_ms"]["p50"],
                    load["latency_ms"]["p99"],
                    _split(r.get("split")),
                    " ".join(
                        f"{_fmt(w.get('rss_mb'))} ({_fmt(w.get('pss_mb'))}, {_fmt(w.get('anon_mb'))})"
                        for w in r["workers"]
                    ),
                    " ".join(_fmt(w.get("cpu_s_during_load")) for w in r["workers"]),
                    r["one_client"]["errors"] + load["errors"],
                ]
            )
        lines += table(
            [
                "service",
                "1 client p50 ms",
                "p95 ms",
                f"req/s at {sbs['clients']}",
                "p50 ms",
                "p99 ms",
                "split",
                "RSS (PSS, anon) MB/worker",
                "cpu s/worker",
                "errors",
            ],
            rows,
        )
        lines.append(
            "  split = client connections each worker held once all had their first answer; RSS = VmRSS of each "
            "serving worker after the load, PSS = its proportional share (a page two workers map counts half in "
            "each), anon = its private part (RssAnon; the rest maps files, shared, and counted once per mapping: "
            "each FTS5 thread maps the database)"
        )
        agree = sbs.get("agreement")
        if agree:
            lines.append("  same answers? per category, searchsvc vs FTS5:")
            rows = [
                [
                    c,
                    a["n"],
                    a["empty_searchsvc"],
                    a["empty_fts5"],
                    a["top10_overlap_median"],
                    a["total_ratio_median"],
                ]
                for c, a in agree.items()
            ]
            lines += table(
                ["category", "n", "no hit svc", "no hit fts5", "top-10 overlap (median)", "total fts5/svc (median)"],
                rows,
                indent="    ",
            )
        balance = sbs.get("balance")
        if balance:
            lines.append("")
            lines.append(
                f"worker balance (searchsvc): {len(next(iter(balance.values()))['trials'])} bursts of "
                f"{sbs['clients']} keep-alive connections opened at once, {sbs.get('trial_requests', '?')} requests "
                "each, on two servers up together, alternating"
            )
            rows = [
                [
                    label + (" (deployed)" if b.get("deployed") else ""),
                    " ".join(f"{k}x{v}" for k, v in b["splits"].items()),
                    b["uneven_trials"],
                    b["p99_pooled"],
                    b["p99_median_of_trials"],
                    b["req_per_s_median"],
                    b["errors"],
                ]
                for label, b in balance.items()
            ]
            lines += table(
                [
                    "listening",
                    "splits (split x trials)",
                    "worse than 5:3",
                    "p99 ms",
                    "median trial p99",
                    "req/s",
                    "err",
                ],
                rows,
            )
    if build:
        lines.append("")
        lines.append("disk and memory")
        for b in (build, results.get("scale_build")):
            if not b:
                continue
            d, ix = b["disk"], b["searchsvc_index"]
            derived = ", ".join(f"{k} {_fmt(v)}" for k, v in d["derived_by_kind_mb"].items()) or "none"
            how = "built fresh" if b["searchsvc_index"].get("fresh") else "updated (unchanged articles skipped)"
            lines.append(
                f"  {b['documents']:,} articles: searchsvc index {_fmt(d['total_mb'])} MB (Whoosh "
                f"{_fmt(d['whoosh_mb'])} MB, derived {_fmt(d['derived_mb'])} MB: {derived}), {how} in "
                f"{_fmt(ix['seconds'])} s; FTS5 database {_fmt(b['fts5']['size_mb'])} MB, built in "
                f"{_fmt(b['fts5']['seconds'])} s"
            )
    scales = results.get("scales")
    if scales:
        lines.append("")
        lines.append(
            "in-process, the same mix (terms, OR, AND, phrases), ms: service.search (cache off, highlights) | "
            "the same without highlights (the kernel's work) | the raw Whoosh query it builds (searcher.search, "
            "no highlights) | FTS5 search (highlights)"
        )
        rows = []
        for sc in scales:
            s, f = sc["searchsvc"], sc["fts5"]
            rows.append(
                [
                    sc["documents"],
                    s["svc_p50"],
                    s["svc_p95"],
                    s.get("bare_p50"),
                    s.get("bare_p95"),
                    s["raw_p50"],
                    s["raw_p95"],
                    f["p50"],
                    f["p95"],
                    _div(s["raw_p50"], s.get("bare_p50")),
                    _div(s["raw_p95"], s.get("bare_p95")),
                    _div(s["svc_p50"], f["p50"]),
                ]
            )
        lines += table(
            [
                "articles",
                "svc p50",
                "svc p95",
                "bare p50",
                "bare p95",
                "raw p50",
                "raw p95",
                "fts5 p50",
                "fts5 p95",
                "raw/bare p50",
                "raw/bare p95",
                "svc/fts5 p50",
            ],
            rows,
        )
    return lines


def _split(counts: Any) -> str:
    return ":".join(str(c) for c in counts) if counts else "-"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(results: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(_clean(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
