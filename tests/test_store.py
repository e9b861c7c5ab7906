"""The index store's Whoosh files as a serving worker sees them."""

from __future__ import annotations

import random
from pathlib import Path

from whoosh.query import Term

from searchsvc.index.store import IndexStore


def _rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_each_searcher_does_not_copy_the_index_into_memory(tmp_path: Path) -> None:
    # Whoosh's mmap path wraps each part of a compound segment in a BytesIO, a private copy per searcher; the
    # service opens one searcher per thread per worker, which took a benchmark worker to 3.4 GB.
    store = IndexStore(tmp_path / "ix")
    ix, generation = store.create_generation()
    rng = random.Random(7)
    vocabulary = [f"w{n}" for n in range(20_000)]
    writer = ix.writer()
    for n in range(300):
        body = " ".join(rng.choices(vocabulary, k=800))
        writer.add_document(id=f"d{n}", title=f"doc {n}", body=body, text=body)
    writer.commit(optimize=True)
    store.publish(generation)
    size_mb = sum(p.stat().st_size for p in (store.root / generation).iterdir()) / 1e6
    assert size_mb > 2  # 8 copies would show well above the allocator's noise

    live, _ = store.open()
    before = _rss_anon_mb()
    searchers = [live.searcher() for _ in range(8)]
    for searcher in searchers:
        assert searcher.search(Term("text", "w1"), limit=10)
        searcher.document(id="d299")
    grown = _rss_anon_mb() - before
    for searcher in searchers:
        searcher.close()
    assert grown < size_mb, f"8 searchers took {grown:.0f} MB of private memory for a {size_mb:.0f} MB index"
