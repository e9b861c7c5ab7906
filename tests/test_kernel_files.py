"""The kernel's derived postings files (index/postings.py): missing ones are built outside requests, and the
temporary folders of a write that died are cleaned up."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MODEL, TEST_SETTINGS, hit_ids
from hypothesis import given
from hypothesis import strategies as st

from searchsvc.config import load_settings
from searchsvc.index import postings
from searchsvc.index.indexer import IndexOptions, index_paths
from searchsvc.index.store import IndexStore, read_toc
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService

TIMEOUT = 1.0


def _service(index_dir: Path, **overrides: Any) -> SearchService:
    settings = {**TEST_SETTINGS, "index_dir": str(index_dir), "cache_size": 0, "query_timeout": TIMEOUT, **overrides}
    return SearchService(load_settings(settings, env={}))


def _kernel_root(index_dir: Path) -> Path:
    ix, _ = IndexStore(index_dir).open()
    return Path(ix.storage.folder) / postings.FOLDER


def test_missing_derived_postings_are_built_outside_the_request(
    own_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index built by older code (no kernel files): the first search answers within its time bound by the
    Whoosh path while a background thread builds them (held here until the search is done), then the kernel
    answers alike."""
    root = _kernel_root(own_index_dir)
    shutil.rmtree(root)
    release = threading.Event()
    real = postings.build

    def slow_build(reader: Any, segment_id: str) -> dict[str, Any]:
        release.wait(10)  # a segment of a large index: seconds of reading every posting list
        return real(reader, segment_id)

    monkeypatch.setattr(postings, "build", slow_build)
    request = SearchRequest(q="harbour ferry", facets=("person",))
    plain = _service(own_index_dir, search_kernel=False)
    svc = _service(own_index_dir, search_kernel=True)
    try:
        expected = plain.search(request).to_json()
        started = time.monotonic()
        first = svc.search(request).to_json()
        took = time.monotonic() - started
        release.set()
        assert took < TIMEOUT, f"the first search waited {took:.1f} s for the kernel's files"
        assert not first["timed_out"] and hit_ids(first) == hit_ids(expected) and first["total"] == expected["total"]
        with svc._use() as (view, searcher):
            assert view.kernel_settled.wait(30)
            assert view.kernel(searcher) is not None
        assert any((entry / "docs.npy").exists() for entry in root.iterdir())
        again = svc.search(request).to_json()
        assert hit_ids(again) == hit_ids(expected) and again["total"] == expected["total"]
    finally:
        release.set()
        svc.close()
        plain.close()


def _temps(root: Path) -> tuple[Path, Path]:
    """A temporary folder a crashed write left an hour and more ago, and one a live writer is filling."""
    segment_id = next(p.name for p in root.iterdir() if not p.name.startswith("."))
    dead, live = root / f".{segment_id}-crashed", root / f".{segment_id}-writing"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "keys.npy").write_bytes(b"partial")
    old = time.time() - postings.STALE_TEMP_SECONDS - 60
    os.utime(dead, (old, old))
    return dead, live


def test_a_commit_removes_the_temporary_folders_of_a_crashed_write(own_index_dir: Path) -> None:
    root = _kernel_root(own_index_dir)
    dead, live = _temps(root)
    ix, _ = IndexStore(own_index_dir).open()
    postings.write_missing(ix.storage, ix.indexname)  # what every commit runs (indexer.commit)
    assert not dead.exists()
    assert live.exists()  # maybe another process's write in progress


def test_building_missing_postings_removes_the_temporary_folders_of_a_crashed_write(own_index_dir: Path) -> None:
    root = _kernel_root(own_index_dir)
    dead, live = _temps(root)
    ix, _ = IndexStore(own_index_dir).open()
    shutil.rmtree(postings.folder_of(ix.storage.folder, read_toc(ix).segments[0].segment_id()))
    svc = _service(own_index_dir, search_kernel=False)
    try:
        with svc._use() as (_, searcher):
            for leaf, _ in searcher.leaf_searchers():  # what the view's background build runs
                assert postings.load(ix.storage.folder, leaf.reader().segment(), leaf.reader()) is not None
    finally:
        svc.close()
    assert not dead.exists() and live.exists()


def test_an_unchanged_index_run_writes_the_derived_postings_an_upgrade_left_stale(
    own_index_dir: Path, corpus: Path
) -> None:
    """After an upgrade that changes the derived files' format (or after they were deleted), `searchsvc index`
    over unchanged documents commits nothing, yet brings them up to date: no worker has to build them."""
    root = _kernel_root(own_index_dir)
    shutil.rmtree(root)
    report = index_paths([corpus], IndexStore(own_index_dir), IndexOptions(model=MODEL, workers=1))
    assert report.unchanged and not report.indexed and not report.updated
    ix, _ = IndexStore(own_index_dir).open()
    for segment in read_toc(ix).segments:
        folder = postings.folder_of(ix.storage.folder, segment.segment_id())
        assert (folder / "meta.json").is_file(), folder


def test_derived_arrays_are_narrowed_only_when_every_value_fits() -> None:
    """Positions and frequencies are stored as uint16 when they fit (half the pages a worker maps); a long
    document's positions past 65,535 and fractional weights keep their wide type, unchanged."""
    import numpy as np

    small = postings._narrowest(np.array([0, 7, 65_535], dtype=np.int64), np.int32)
    assert small.dtype == np.uint16 and small.tolist() == [0, 7, 65_535]
    long_document = postings._narrowest(np.array([0, 65_536, 2_000_000], dtype=np.int64), np.int32)
    assert long_document.dtype == np.int32 and long_document.tolist() == [0, 65_536, 2_000_000]
    weights = postings._narrowest(np.array([1.0, 2.5], dtype=np.float32), np.float32)
    assert weights.dtype == np.float32 and weights.tolist() == [1.0, 2.5]


@given(
    keys=st.lists(st.binary(min_size=1, max_size=6), min_size=0, max_size=400, unique=True),
    probes=st.lists(st.binary(max_size=7), min_size=1, max_size=20),
    block=st.sampled_from([2, 3, postings.BLOCK]),
)
def test_key_lookups_in_blocks_find_what_a_plain_bisect_finds(
    keys: list[bytes], probes: list[bytes], block: int
) -> None:
    """The derived keys are bisected through a sample of every BLOCK-th key, then within one block: the same
    insertion points as bisecting them all, for keys present, absent, before the first and past the last."""
    import bisect

    import numpy as np

    ordered = sorted(keys)
    blob = np.frombuffer(b"".join(ordered), dtype=np.uint8) if ordered else np.zeros(0, dtype=np.uint8)
    ends = np.cumsum([len(k) for k in ordered], dtype=np.int64)
    saved, postings.BLOCK = postings.BLOCK, block  # small blocks: many block edges in a few keys
    try:
        found = postings._Keys(blob, ends)
        for probe in [*probes, *ordered, *(k + b"\x00" for k in ordered)]:  # each key and just past it
            assert found.bisect_left(probe) == bisect.bisect_left(ordered, probe)
            assert found.bisect_right(probe) == bisect.bisect_right(ordered, probe)
    finally:
        postings.BLOCK = saved


def test_derived_files_are_synced_before_they_are_renamed_into_place(
    own_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut must not leave a kernel folder whose meta.json is valid over files still unwritten (zeros):
    every file is synced in the temporary folder, then the rename, then the folder holding it."""
    from searchsvc.index import store

    events: list[tuple[str, str]] = []
    fsync, replace = store._fsync, os.replace
    monkeypatch.setattr(store, "_fsync", lambda path, **kw: (events.append(("sync", str(path))), fsync(path, **kw)))
    monkeypatch.setattr(postings.os, "replace", lambda a, b: (events.append(("rename", str(b))), replace(a, b))[1])
    ix, _ = IndexStore(own_index_dir).open()
    segment = read_toc(ix).segments[0]
    folder = postings.folder_of(ix.storage.folder, segment.segment_id())
    shutil.rmtree(folder)
    with ix.reader() as reader:
        leaf = reader.leaf_readers()[0][0] if hasattr(reader, "leaf_readers") else reader
        assert postings.load(ix.storage.folder, leaf.segment(), leaf) is not None
    renamed = events.index(("rename", str(folder)))
    synced = {Path(p).name for kind, p in events[:renamed] if kind == "sync"}
    assert synced >= {"meta.json", *(f"{name}.npy" for name in postings._FILES)}
    assert ("sync", str(folder.parent)) in events[renamed:]


def test_one_process_builds_missing_files_while_the_others_wait_and_read_them(
    own_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two gunicorn workers finding a segment's files missing: one builds (a lock file beside the folder), the
    other waits and reads what it wrote, instead of building a second copy at the same time."""
    built: list[str] = []
    original = postings.build

    def slow_build(reader: Any, segment_id: str) -> dict[str, Any]:
        built.append(segment_id)
        time.sleep(0.3)  # long enough for the other builder to arrive while this one works
        return original(reader, segment_id)

    monkeypatch.setattr(postings, "build", slow_build)
    ix, _ = IndexStore(own_index_dir).open()
    shutil.rmtree(postings.folder_of(ix.storage.folder, read_toc(ix).segments[0].segment_id()))
    results: list[Any] = []

    def worker() -> None:
        with IndexStore(own_index_dir).open()[0].reader() as reader:
            leaf = reader.leaf_readers()[0][0]
            results.append(postings.load(ix.storage.folder, leaf.segment(), leaf))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and all(r is not None for r in results)
    assert len(built) == 1, built


def test_a_view_whose_commit_was_merged_away_before_its_kernel_was_built_logs_one_line(
    own_index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Under writes, a view's background build can find its segments merged away by a newer commit (seen under
    kill -9 load): expected, so the log says it in one line, not with a traceback that reads as a fault; the
    service moves on to the newer commit."""
    shutil.rmtree(_kernel_root(own_index_dir))
    svc = _service(own_index_dir, search_kernel=True)
    try:
        with svc._use() as (view, _):
            ix, _ = IndexStore(own_index_dir).open()
            writer = ix.writer()
            writer.add_document(id="merged-in", title="merged in", body="harbour ferry", text="harbour ferry")
            writer.commit(optimize=True)  # one new segment; the view's segment files are deleted
            caplog.clear()
            caplog.set_level(logging.INFO, logger="searchsvc")
            view._build_kernel()  # what the view's background thread runs
            assert view.kernel_settled.is_set() and view.kernel(view.searcher()) is None
        assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelname != "INFO"] == []
        assert any("a newer commit replaced it" in r.getMessage() for r in caplog.records)
        svc.refresh()
        assert "merged-in" in hit_ids(svc.search(SearchRequest(q="harbour ferry", limit=50)).to_json())
    finally:
        svc.close()
