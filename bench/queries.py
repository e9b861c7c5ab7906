"""The fixed, seeded query mix, and its in-process run: the service's search (what the API calls) against the
raw Whoosh query the service builds for the same request, the lanes taking turns round by round.

Every query is a dict of the API's query-string parameters (so the HTTP run sends exactly the same requests)
and the SearchRequest that api.py would build from them.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from bench.measure import latency_summary, percentile, ratio
from searchsvc.search.query import STOPWORDS
from searchsvc.search.requests import Filters

CATEGORIES = (
    "term",  # one word
    "words",  # two or three words of one headline, match=auto (the common case)
    "or",  # a OR b
    "and",  # a AND b
    "phrase",  # "a b", a two-word phrase of the text
    "slop",  # "a c"~3, words one apart in the text
    "prefix",  # abcd*
    "entity",  # person/org/place filter, with or without words
    "date",  # published (or mentioned) date range, with a word
    "facets",  # a word, facets person,org,place,published
    "highlight",  # one or two words, highlighted snippets
    "hl+facets",  # a word with highlights and facets
    "sort",  # a word, newest (or oldest) first
    "deep",  # a frequent word, offset 100..2000
)
# What the targets call plain queries: single terms, OR, AND and two-word phrases, no facets or highlights.
PLAIN = ("term", "or", "and", "phrase")
FACETS = "person,org,place,published"
_WORD = re.compile(r"[a-z]{3,}")
_PUBLISHED_RANGE = ("1987-02-26", "1987-10-20")


@dataclass(frozen=True)
class BenchQuery:
    category: str
    params: Mapping[str, Any]  # the API's query-string parameters

    @property
    def path(self) -> str:
        return "/search?" + urlencode(self.params, doseq=True)

    def request(self) -> Any:
        """The SearchRequest api.py builds from these parameters."""
        from searchsvc.search.requests import SearchRequest

        p = self.params
        return SearchRequest(
            q=p.get("q", ""),
            match=p.get("match", "auto"),
            filters=Filters(
                person=tuple(_as_list(p.get("person"))),
                org=tuple(_as_list(p.get("org"))),
                place=tuple(_as_list(p.get("place"))),
                published_from=p.get("published_from"),
                published_to=p.get("published_to"),
                mentioned_from=p.get("mentioned_from"),
                mentioned_to=p.get("mentioned_to"),
            ),
            sort=p.get("sort"),
            limit=int(p.get("limit", 10)),
            offset=int(p.get("offset", 0)),
            facets=tuple(dict.fromkeys(f for f in str(p.get("facets", "")).split(",") if f)),
            highlight=str(p.get("highlight", "true")).lower() == "true",
        )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# -- vocabulary ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Vocabulary:
    """Words and word pairs that occur in the collection, so that queries find something."""

    title_words: list[str]  # every content word of every headline: sampling it is frequency-weighted
    headlines: list[list[str]]  # the content words of each headline with at least two
    bigrams: list[tuple[str, str]]  # adjacent words of bodies, seen at least 3 times
    skipgrams: list[tuple[str, str]]  # words one apart in bodies, seen at least 3 times
    frequent: list[str]  # the most frequent body words (by documents): deep pages exist


def _content(words: Iterable[str]) -> list[str]:
    return [w for w in words if len(w) >= 3 and w not in STOPWORDS]


def vocabulary(articles: Sequence[Mapping[str, Any]]) -> Vocabulary:
    title_words: list[str] = []
    headlines: list[list[str]] = []
    bigrams: Counter[tuple[str, str]] = Counter()
    skipgrams: Counter[tuple[str, str]] = Counter()
    df: Counter[str] = Counter()
    for doc in articles:
        head = _content(_WORD.findall(doc["title"].lower()))
        title_words.extend(head)
        if len(set(head)) >= 2:
            headlines.append(list(dict.fromkeys(head)))
        body = _WORD.findall(doc["body"].lower())
        df.update(set(_content(body)))
        for a, b, c in zip(body, body[1:], body[2:], strict=False):
            if a not in STOPWORDS and b not in STOPWORDS:
                bigrams[(a, b)] += 1
            if a not in STOPWORDS and c not in STOPWORDS and a != c:
                skipgrams[(a, c)] += 1
    return Vocabulary(
        title_words=title_words,
        headlines=headlines or [list(dict.fromkeys(title_words))],
        bigrams=_at_least(bigrams, 3),
        skipgrams=_at_least(skipgrams, 3),
        frequent=[w for w, _ in df.most_common(150)],
    )


def _at_least(counts: Counter[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """Pairs seen at least n times (all of them in a collection too small to have any)."""
    return sorted(p for p, c in counts.items() if c >= n) or sorted(counts)


# -- the mix -------------------------------------------------------------------------------------------------
def _day(rng: random.Random, lo: str, hi: str, span: int) -> tuple[str, str]:
    import datetime as dt

    first, last = dt.date.fromisoformat(lo), dt.date.fromisoformat(hi)
    start = first + dt.timedelta(days=rng.randrange(max(1, (last - first).days - span)))
    return start.isoformat(), (start + dt.timedelta(days=span)).isoformat()


def make_query(
    category: str, rng: random.Random, vocab: Vocabulary, entities: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The parameters of one query of `category`."""

    def word() -> str:
        return rng.choice(vocab.title_words)

    p: dict[str, Any] = {"highlight": "false"}
    if category == "term":
        p["q"] = word()
    elif category == "words":
        head = rng.choice(vocab.headlines)
        p["q"] = " ".join(rng.sample(head, min(len(head), rng.choice((2, 3)))))
    elif category == "or":
        p["q"] = f"{word()} OR {word()}"
    elif category == "and":
        a, b = rng.sample(rng.choice(vocab.headlines), 2)
        p["q"] = f"{a} AND {b}"
    elif category == "phrase":
        p["q"] = '"{} {}"'.format(*rng.choice(vocab.bigrams))
    elif category == "slop":
        p["q"] = '"{} {}"~3'.format(*rng.choice(vocab.skipgrams))
    elif category == "prefix":
        long_words = [w for w in (word() for _ in range(20)) if len(w) >= 7]
        w = long_words[0] if long_words else "compan"
        p["q"] = w[: rng.choice((5, 6))] + "*"
    elif category == "entity":
        kind = rng.choice([k for k in ("person", "org", "place") if entities.get(k)] or ["place"])
        names = entities.get(kind) or ["usa"]
        p[kind] = rng.choice(names)
        if rng.random() < 0.5:
            p["q"] = word()
    elif category == "date":
        p["q"] = word()
        span = rng.choice((7, 14, 30, 60))
        if rng.random() < 0.75:
            p["published_from"], p["published_to"] = _day(rng, *_PUBLISHED_RANGE, span)
        else:
            p["mentioned_from"], p["mentioned_to"] = _day(rng, "1987-01-01", "1987-12-31", span)
    elif category == "facets":
        p["q"] = word()
        p["facets"] = FACETS
    elif category == "highlight":
        p["q"] = " ".join(word() for _ in range(rng.choice((1, 2))))
        p["highlight"] = "true"
    elif category == "hl+facets":
        p["q"] = word()
        p["highlight"] = "true"
        p["facets"] = FACETS
    elif category == "sort":
        p["q"] = word()
        p["sort"] = "-published" if rng.random() < 0.75 else "published"
    elif category == "deep":
        p["q"] = rng.choice(vocab.frequent)
        p["offset"] = rng.choice((100, 300, 500, 1000, 2000))
    else:
        raise ValueError(f"unknown category {category!r}")
    return p


def query_mix(
    vocab: Vocabulary,
    entities: Mapping[str, Sequence[str]],
    per_category: int,
    seed: int,
    accept: Callable[[BenchQuery], bool] | None = None,
) -> list[BenchQuery]:
    """`per_category` distinct queries of each category, in a seeded shuffled order. `accept` can veto a
    query (a prefix that expands to too many terms); a vetoed one is replaced by another draw."""
    rng = random.Random(seed)
    out: list[BenchQuery] = []
    for category in CATEGORIES:
        seen: set[str] = set()
        attempts = 0
        while sum(1 for q in out if q.category == category) < per_category and attempts < per_category * 50:
            attempts += 1
            query = BenchQuery(category, make_query(category, rng, vocab, entities))
            if query.path in seen or (accept is not None and not accept(query)):
                continue
            seen.add(query.path)
            out.append(query)
    rng.shuffle(out)
    return out


# -- running in-process --------------------------------------------------------------------------------------
class Runner:
    """The service (result cache off unless asked) and a raw Whoosh searcher over the same index."""

    def __init__(self, index_dir: Path, **overrides: Any) -> None:
        from searchsvc.allocator import tune_allocator
        from searchsvc.config import load_settings
        from searchsvc.index.store import IndexStore
        from searchsvc.search.query import QueryBuilder
        from searchsvc.search.service import SearchService

        tune_allocator()  # as the app does (searchsvc/allocator.py)
        self.settings = load_settings({"index_dir": str(index_dir), "cache_size": 0, **overrides}, env={})
        self.service = SearchService(self.settings)
        self.ix, _ = IndexStore(index_dir).open()
        self.searcher = self.ix.searcher()
        self.builder = QueryBuilder(self.ix.schema)

    def close(self) -> None:
        self.service.close()
        self.searcher.close()

    def service_with(self, **overrides: Any) -> Any:
        from searchsvc.search.service import SearchService

        return SearchService(self.settings.replace(**overrides))

    def raw_query(self, query: BenchQuery) -> Any:
        """The Whoosh query object the service builds for this request (query.py)."""
        r = query.request()
        return self.builder.build(r.q, match=r.match, filters=r.filters).query

    def raw(self, query: BenchQuery, wq: Any, *, exact: bool = False) -> tuple[float, int]:
        """Plain Whoosh: searcher.search(q, limit=offset+limit) (sorted by the column when the request is
        sorted by date), reading stored id and title of the page. Returns (ms, hits read)."""
        r = query.request()
        started = time.perf_counter()
        kwargs: dict[str, Any] = {}
        if r.effective_sort != "relevance":
            kwargs = {"sortedby": "published", "reverse": r.effective_sort == "-published"}
        results = self.searcher.search(wq, limit=r.offset + r.limit, **kwargs)
        if exact:
            len(results)
        n = 0
        for hit in results[r.offset : r.offset + r.limit]:
            hit["id"], hit.get("title")
            n += 1
        return (time.perf_counter() - started) * 1000, n

    def timed_service(self, service: Any, request: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        result = service.search(request)
        return (time.perf_counter() - started) * 1000, result


def _errors_ok(exc: Exception) -> bool:
    from searchsvc.errors import ServiceError

    return isinstance(exc, ServiceError)


def expansion_ok(runner: Runner) -> Callable[[BenchQuery], bool]:
    """A veto for query_mix: the service would reject prefixes expanding to more than max_expansion terms."""
    from searchsvc.errors import ServiceError
    from searchsvc.search.expansion import expand_query

    def accept(query: BenchQuery) -> bool:
        if query.category != "prefix":
            return True
        try:
            built = runner.builder.build(query.params["q"])
            if built.text_query is not None:
                expand_query(
                    built.text_query,
                    runner.searcher.reader(),
                    max_terms=runner.settings.max_expansion,
                    max_visits=runner.settings.max_expansion_visits,
                )
        except ServiceError:
            return False
        return True

    return accept


def run_inprocess(
    runner: Runner, queries: Sequence[BenchQuery], warmup: Sequence[BenchQuery], rounds: int
) -> dict[str, Any]:
    """Per category and overall: raw and service latencies (ms), their ratio, hits, errors; and the service
    without highlights ("bare"): the same work as the raw Whoosh query (rank, count, read the page), so raw/bare
    is what the kernel gains over Whoosh like for like.

    Each round runs each lane over all the queries, the lanes in turn (the first lane rotating from round to
    round), as a server runs its queries back to back: interleaving the lanes query by query made each search
    run in the caches the 10-30 ms Whoosh query before it had filled (104k articles: the service without
    highlights 0.93 ms p50 alone, 1.45 ms each right after the raw query), which charged the faster lane most."""
    raw_q = [runner.raw_query(q) for q in queries]
    for q in warmup:
        runner.raw(q, runner.raw_query(q))
        try:
            runner.service.search(q.request())
        except Exception as exc:
            if not _errors_ok(exc):
                raise
    raw_ms: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    svc_ms: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    bare_ms: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    errors: Counter[str] = Counter()
    messages: list[str] = []
    gte: Counter[str] = Counter()
    lanes = ("raw", "svc", "bare")
    for rnd in range(rounds):
        for which in lanes[rnd % 3 :] + lanes[: rnd % 3]:
            for query, wq in zip(queries, raw_q, strict=True):
                request = query.request()
                if which == "raw":
                    raw_ms[query.category].append(runner.raw(query, wq)[0])
                    continue
                if which == "bare":
                    with contextlib.suppress(Exception):  # an error is counted by the "svc" lane
                        bare_ms[query.category].append(
                            runner.timed_service(runner.service, replace(request, highlight=False))[0]
                        )
                    continue
                try:
                    ms, result = runner.timed_service(runner.service, request)
                except Exception as exc:
                    if not _errors_ok(exc):
                        raise
                    errors[query.category] += 1
                    if len(messages) < 5:
                        messages.append(f"{query.path}: {exc}")
                    continue
                svc_ms[query.category].append(ms)
                if rnd == 0 and result.total_relation == "gte":
                    gte[query.category] += 1
    categories = {}
    for c in CATEGORIES:
        categories[c] = _compare(raw_ms[c], svc_ms[c], bare_ms[c])
        categories[c]["errors"] = errors[c]
        categories[c]["total_gte"] = gte[c]
    groups = {
        "plain": _compare(_cat(raw_ms, PLAIN), _cat(svc_ms, PLAIN), _cat(bare_ms, PLAIN)),
        "hl+facets": categories["hl+facets"],
        "all": _compare(_cat(raw_ms, CATEGORIES), _cat(svc_ms, CATEGORIES), _cat(bare_ms, CATEGORIES)),
    }
    return {
        "queries": len(queries),
        "rounds": rounds,
        "categories": categories,
        "groups": groups,
        "errors": sum(errors.values()),
        "error_examples": messages,
    }


def _cat(by_category: Mapping[str, list[float]], names: Iterable[str]) -> list[float]:
    return [ms for c in names for ms in by_category[c]]


def _compare(raw: Sequence[float], svc: Sequence[float], bare: Sequence[float] = ()) -> dict[str, Any]:
    r, s, b = latency_summary(raw), latency_summary(svc), latency_summary(bare)
    return {
        "bare_p50": b["p50"],
        "bare_p95": b["p95"],
        "n": len(svc),
        "raw_p50": r["p50"],
        "raw_p95": r["p95"],
        "svc_p50": s["p50"],
        "svc_p95": s["p95"],
        "p50_ratio": ratio(s["p50"], r["p50"]),
        "p95_ratio": ratio(s["p95"], r["p95"]),
    }


# -- levers --------------------------------------------------------------------------------------------------
def _pair(name: str, a: Sequence[float], b: Sequence[float], a_label: str, b_label: str) -> dict[str, Any]:
    pa, pb = percentile(a, 50), percentile(b, 50)
    return {
        "lever": name,
        a_label + "_p50": round(pa, 3),
        b_label + "_p50": round(pb, 3),
        a_label + "_p95": round(percentile(a, 95), 3),
        b_label + "_p95": round(percentile(b, 95), 3),
        "p50_cost_ms": round(pa - pb, 3),
        "p50_ratio": ratio(pa, pb),
        "n": len(a),
    }


def measure_levers(runner: Runner, queries: Sequence[BenchQuery], app_factory: Any = None) -> dict[str, Any]:
    """What each feature of the search path costs, on the same queries (interleaved A/B, p50 ms)."""
    levers: dict[str, Any] = {}
    by_cat = {c: [q for q in queries if q.category == c] for c in CATEGORIES}
    plain = [q for c in PLAIN for q in by_cat[c]]

    # Exact counting: Whoosh's len(results) vs top-10 only; the service at its count bound vs none.
    exact: list[float] = []
    top: list[float] = []
    for i, q in enumerate(plain):
        wq = runner.raw_query(q)
        for exact_count in (True, False) if i % 2 else (False, True):
            (exact if exact_count else top).append(runner.raw(q, wq, exact=exact_count)[0])
    levers["raw_exact_count"] = _pair("raw Whoosh len(results)", exact, top, "exact", "top10")
    uncounted = runner.service_with(cache_size=0, count_bound=0)  # 0: never count, total is a bare lower bound
    filtered = [q for c in ("entity", "date") for q in by_cat[c]]
    for key, items in (("service_count", plain), ("service_count_filtered", filtered)):
        counted: list[float] = []
        bounded: list[float] = []
        for i, q in enumerate(items):
            r = q.request()
            for svc, sink in ((runner.service, counted), (uncounted, bounded))[:: 1 if i % 2 else -1]:
                sink.append(runner.timed_service(svc, r)[0])
        what = "plain" if key == "service_count" else "entity+date filters"
        levers[key] = _pair(
            f"service count_bound={runner.settings.count_bound} vs 0 (no count), {what}",
            counted,
            bounded,
            "counted",
            "uncounted",
        )
    uncounted.close()

    # The shape `auto` gives two or three words (the conjunction boosted over the disjunction), raw Whoosh.
    auto: list[float] = []
    anyq: list[float] = []
    for i, q in enumerate(by_cat["words"]):
        r = q.request()
        shapes = ((runner.raw_query(q), auto), (runner.builder.build(r.q, match="any").query, anyq))
        for wq, sink in shapes[:: 1 if i % 2 else -1]:
            sink.append(runner.raw(q, wq)[0])
    levers["auto_vs_any"] = _pair("raw Whoosh, match=auto vs any (2-3 words)", auto, anyq, "auto", "any")

    def ab(name: str, items: Sequence[BenchQuery], change: dict[str, Any], a: str, b: str) -> None:
        with_: list[float] = []
        without: list[float] = []
        for i, q in enumerate(items):
            r = q.request()
            other = replace(r, **change)
            pairs = ((r, with_), (other, without))
            for req, sink in pairs[:: 1 if i % 2 else -1]:
                sink.append(runner.timed_service(runner.service, req)[0])
        levers[name] = _pair(name, with_, without, a, b)

    ab("highlight", by_cat["highlight"], {"highlight": False}, "on", "off")
    ab("facets", by_cat["facets"], {"facets": ()}, "on", "off")
    ab("hl+facets", by_cat["hl+facets"], {"facets": (), "highlight": False}, "on", "off")
    ab("deep offset", by_cat["deep"], {"offset": 0}, "deep", "first_page")
    ab("date sort", by_cat["sort"], {"sort": "relevance"}, "by_date", "relevance")

    # Query building (parse + Whoosh objects), per request in the service.
    build_us = []
    for q in queries:
        r = q.request()
        started = time.perf_counter()
        runner.builder.build(r.q, match=r.match, filters=r.filters)
        build_us.append((time.perf_counter() - started) * 1e6)
    levers["query_build_us"] = {
        "p50": round(percentile(build_us, 50), 1),
        "p95": round(percentile(build_us, 95), 1),
    }

    # JSON: the response dict, orjson (what api.py uses) and the stdlib for comparison.
    to_json_us, orjson_us, stdlib_us, sizes = [], [], [], []
    for q in queries[:200]:
        try:
            result = runner.service.search(q.request())
        except Exception as exc:
            if not _errors_ok(exc):
                raise
            continue
        started = time.perf_counter()
        data = result.to_json()
        t1 = time.perf_counter()
        encoded = orjson.dumps(data)
        t2 = time.perf_counter()
        json.dumps(data)
        t3 = time.perf_counter()
        to_json_us.append((t1 - started) * 1e6)
        orjson_us.append((t2 - t1) * 1e6)
        stdlib_us.append((t3 - t2) * 1e6)
        sizes.append(len(encoded))
    levers["json_us"] = {
        "to_json_p50": round(percentile(to_json_us, 50), 1),
        "orjson_p50": round(percentile(orjson_us, 50), 1),
        "stdlib_json_p50": round(percentile(stdlib_us, 50), 1),
        "response_bytes_p50": round(percentile(sizes, 50)),
    }

    # The result cache: a repeated identical request.
    from searchsvc.config import load_settings

    cached = runner.service_with(cache_size=load_settings(env={}).cache_size)  # the default cache
    hits = []
    for q in queries[:200]:
        r = q.request()
        try:
            cached.search(r)
        except Exception as exc:
            if not _errors_ok(exc):
                raise
            continue
        hits.append(runner.timed_service(cached, r)[0])
    cached.close()
    levers["cache_hit"] = {
        "p50": round(percentile(hits, 50), 3),
        "p95": round(percentile(hits, 95), 3),
        "n": len(hits),
    }

    # Flask + marshmallow + orjson in-process (no sockets): the test client against the service alone.
    if app_factory is not None:
        app = app_factory()
        client = app.test_client()
        flask_ms, svc_ms = [], []
        for i, q in enumerate(plain):
            r = q.request()
            order = ("flask", "svc") if i % 2 else ("svc", "flask")
            for which in order:
                if which == "svc":
                    svc_ms.append(runner.timed_service(runner.service, r)[0])
                else:
                    started = time.perf_counter()
                    response = client.get(q.path)
                    flask_ms.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"{q.path}: {response.status_code} {response.get_data()[:200]!r}")
        levers["flask_in_process"] = _pair("Flask test client vs service", flask_ms, svc_ms, "flask", "service")
    return levers
