"""Throughput of Extractor.extract_many in words per second, on one core.

    python -m searchsvc.extract.benchmark '/work/shared/data/bbc_news/bbc/business/*.txt' --limit 200

Words are whitespace-separated tokens of the input. Model loading is not timed; a short warm-up is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import time
from typing import Any

from .pipeline import DEFAULT_MODEL, Extractor


def measure(
    texts: list[str],
    extractor: Extractor,
    batch_size: int = 32,
    repeat: int = 1,
    published: dt.date | None = None,
) -> dict[str, float]:
    """Best of `repeat` timed runs over `texts`; returns words, seconds and words per second."""
    words = sum(len(t.split()) for t in texts)
    list(extractor.extract_many(((t, None) for t in texts[:4]), batch_size=batch_size))  # warm-up
    best = float("inf")
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        for _extraction in extractor.extract_many(((t, published) for t in texts), batch_size=batch_size):
            pass
        best = min(best, time.perf_counter() - started)
    return {
        "documents": len(texts),
        "words": words,
        "seconds": round(best, 3),
        "words_per_second": words / best,
    }


def main(argv: list[str] | None = None) -> None:
    """Command line entry point; prints one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pattern", help="glob of UTF-8 text files")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--published", default="2005-03-01", help="publication date given to every text")
    args = parser.parse_args(argv)

    published = dt.date.fromisoformat(args.published) if args.published else None
    texts = []
    for path in sorted(glob.glob(args.pattern))[: args.limit]:
        with open(path, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    extractor = Extractor(args.model)
    result: dict[str, Any] = measure(
        texts, extractor, batch_size=args.batch_size, repeat=args.repeat, published=published
    )
    result["batch_size"] = args.batch_size
    result["cpu_affinity"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
