"""What is on disk when a write is acknowledged as done: Whoosh syncs nothing, so the store syncs the segment
files, the table of contents and their folder before the marker names the generation, and the index folder
after the marker is replaced; a task is marked succeeded only after that (a power cut then loses nothing)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import MODEL, load_settings
from filelock import FileLock

from searchsvc.documents import document_from_mapping
from searchsvc.index.indexer import IndexOptions, index_paths
from searchsvc.index.store import MARKER, IndexStore
from searchsvc.writes.applier import dump_document, make_applier
from searchsvc.writes.tasks import TaskQueue, TaskWriter

Events = list[tuple[str, str]]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Events:
    """fsync, rename and replace calls, in order, with the path each concerns."""
    seen: Events = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: Any) -> None:
        fd = fd if isinstance(fd, int) else fd.fileno()
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        real_replace(src, dst, **kwargs)
        seen.append(("replace", str(Path(dst).resolve())))

    def rename(src: Any, dst: Any, **kwargs: Any) -> None:
        real_rename(src, dst, **kwargs)
        seen.append(("rename", str(Path(dst).resolve())))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    return seen


def assert_durable_before_published(events: Events, root: Path, since: int = 0) -> int:
    """Every file of the live generation and its folder synced (after the last rename in it) before the
    marker was replaced, and the index folder synced after; returns the index of that last event."""
    root = root.resolve()
    generation = root / json.loads((root / MARKER).read_text())["generation"]
    events = events[since:]
    published = max(i for i, (kind, path) in enumerate(events) if kind == "replace" and path == str(root / MARKER))
    before = events[:published]
    renamed = [i for i, (kind, path) in enumerate(before) if kind == "rename" and Path(path).parent == generation]
    assert renamed, "Whoosh renames its table of contents into place"
    synced_after = {path for kind, path in before[renamed[-1] :] if kind == "fsync"}
    files = {str(p) for p in generation.iterdir() if p.is_file() and not p.name.endswith("LOCK")}
    assert files and files <= synced_after, files - synced_after
    assert str(generation) in synced_after
    assert ("fsync", str(root)) in events[published:]
    return since + max(i for i, event in enumerate(events) if event == ("fsync", str(root)))


def test_an_index_run_syncs_before_it_publishes(corpus: Path, tmp_path: Path, events: Events) -> None:
    store = IndexStore(tmp_path / "index")
    index_paths([corpus], store, IndexOptions(model=MODEL, workers=1))  # a fresh generation
    assert_durable_before_published(events, store.root)
    events.clear()
    (corpus.parent / "more").mkdir(exist_ok=True)
    extra = corpus.parent / "more" / "durable.json"
    extra.write_text(json.dumps({"id": "durable-1", "body": "One more, on disk."}))
    index_paths([extra], store, IndexOptions(model=MODEL, workers=1))  # an update of the live generation
    assert_durable_before_published(events, store.root)


def test_a_task_is_marked_done_only_once_its_changes_are_synced(
    own_index_dir: Path, tmp_path: Path, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IndexStore(own_index_dir)
    settings = load_settings({"index_dir": str(own_index_dir)}, env={})
    queue = TaskQueue(tmp_path / "tasks.sqlite")
    real_finish = queue.finish

    def finish(outcomes: Any) -> None:
        events.append(("finish", ""))
        real_finish(outcomes)

    monkeypatch.setattr(queue, "finish", finish)
    doc = document_from_mapping({"id": "durable-task", "body": "Written over HTTP, kept through a power cut."})
    queue.enqueue("documents", {"documents": [[0, dump_document(doc)]], "errors": []})
    queue.enqueue("delete", {"ids": ["durable-task"]})
    writer = TaskWriter(queue, lambda: FileLock(str(tmp_path / "write.lock")), make_applier(store, settings))
    assert writer.run_once() == 2
    synced = assert_durable_before_published(events, store.root)
    assert events.index(("finish", "")) > synced
    assert {t.status for t in queue.list()} == {"succeeded"}
