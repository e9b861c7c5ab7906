"""The search page's added time per search over the JSON API, against a running server (start it with
SEARCHSVC_CACHE_SIZE=0 so that no answer comes from the result cache):

    python -m bench.pages --base http://127.0.0.1:8000 [--queries 50] [--rounds 3]

For ~50 queries (words drawn from the titles of the index's newest documents, some with a filter), each round
times, one request after the other on one keep-alive connection:
  - page: GET /?q=... (what the page asks the service for: 10 hits with highlights, the 3 entity facets and the
    2 month facets, rendered as HTML);
  - api+facets: GET /search?q=...&facets=person,org,place,published,mentioned&facet_size=100 (the JSON a client
    would fetch to draw the same page itself);
  - api: GET /search?q=... (hits only).
and prints the p50 and p90 of each, and of page minus api+facets, page minus api, query by query.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import time
from urllib.parse import urlencode, urlsplit

from bench.measure import percentile

FACETS = "person,org,place,published,mentioned"


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status >= 500:
        raise RuntimeError(f"{path}: {response.status}")
    return elapsed, body


def queries(conn: http.client.HTTPConnection, n: int, seed: int = 19) -> list[dict[str, str]]:
    """`n` varied searches: one to three title words, a few with a person/org/place filter or a date."""
    _, body = _get(conn, "/search?" + urlencode({"limit": 100, "facets": "person,org,place", "highlight": "false"}))
    data = json.loads(body)
    words = sorted({w.lower() for h in data["hits"] for w in re.findall(r"[A-Za-z]{4,}", h["title"])})
    names = [(kind, v["value"]) for kind in ("person", "org", "place") for v in data["facets"][kind]]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        q = {"q": " ".join(rng.sample(words, k=min(len(words), 1 + i % 3)))}
        if i % 5 == 4 and names:
            kind, name = rng.choice(names)
            q[kind] = name
        out.append(q)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    parts = urlsplit(args.base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    chosen = queries(conn, args.queries)
    times: dict[str, list[float]] = {"page": [], "api+facets": [], "api": []}
    extra_facets: list[float] = []
    extra_hits: list[float] = []
    for _ in range(args.rounds):
        for q in chosen:
            page, _ = _get(conn, "/?" + urlencode(q))
            facets, _ = _get(conn, "/search?" + urlencode({**q, "facets": FACETS, "facet_size": 100}))
            hits, _ = _get(conn, "/search?" + urlencode(q))
            times["page"].append(page)
            times["api+facets"].append(facets)
            times["api"].append(hits)
            extra_facets.append(page - facets)
            extra_hits.append(page - hits)
    print(f"{len(chosen)} queries x {args.rounds} rounds against {args.base}")
    for name, values in (*times.items(), ("page - api+facets", extra_facets), ("page - api", extra_hits)):
        print(f"{name:>18}: p50 {statistics.median(values):7.2f} ms   p90 {percentile(values, 90):7.2f} ms")


if __name__ == "__main__":
    main()
