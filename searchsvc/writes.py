"""Turning a batch of write tasks into index changes: the glue between the task queue and the indexer.

Within a batch only the last operation on an id counts (a PUT then a DELETE of one id deletes it), because a Whoosh
writer cannot see the documents it has buffered but not committed.
"""

from __future__ import annotations

import logging
from typing import Any

from searchsvc.config import Settings
from searchsvc.documents import Document, DocumentError, document_from_mapping
from searchsvc.indexer import apply_changes, index_paths
from searchsvc.store import IndexStore
from searchsvc.tasks import Apply, Task, TaskQueue, TaskWriter

log = logging.getLogger("searchsvc.writes")

_extractor = None


def _get_extractor(model: str):  # type: ignore[no-untyped-def]
    """One spaCy pipeline per process, loaded the first time this process becomes the writer."""
    global _extractor
    if _extractor is None:
        from searchsvc.extract import Extractor

        _extractor = Extractor(model)
    return _extractor


def make_applier(store: IndexStore, settings: Settings) -> Apply:
    def apply(tasks: list[Task]) -> list[tuple[int, str, dict[str, Any] | None, str | None]]:
        if len(tasks) == 1 and tasks[0].kind == "reindex":
            report = index_paths(
                settings.source_paths,
                store,
                model=settings.spacy_model,
                workers=1,
                rebuild=True,
                max_file_bytes=settings.max_file_bytes,
                take_lock=False,
            )
            return [(tasks[0].id, "succeeded", report.to_json(), None)]
        final: dict[str, Document | None] = {}
        results: dict[int, dict[str, Any]] = {}
        for task in tasks:
            result: dict[str, Any] = {"indexed": 0, "deleted": 0}
            for doc_id in task.payload.get("ids", ()):
                final.pop(doc_id, None)
                final[doc_id] = None
                result["deleted"] += 1
            for raw in task.payload.get("documents", ()):
                try:
                    doc = document_from_mapping(raw)
                except DocumentError as exc:  # validated at the door; kept for safety on old rows
                    result.setdefault("errors", []).append({"id": raw.get("id"), "message": str(exc)})
                    continue
                final.pop(doc.id, None)
                final[doc.id] = doc
                result["indexed"] += 1
            results[task.id] = result
        upserts = [d for d in final.values() if d is not None]
        deletes = [i for i, d in final.items() if d is None]
        apply_changes(store, upserts, deletes, _get_extractor(settings.spacy_model), settings.spacy_model)
        return [(t.id, "succeeded", {**t.payload.get("rejected", {}), **results[t.id]}, None) for t in tasks]

    return apply


def start_writer(store: IndexStore, settings: Settings) -> tuple[TaskQueue, TaskWriter]:
    """The task queue beside the index and this process's writer thread (started)."""
    queue = TaskQueue(store.root / "tasks.sqlite")
    writer = TaskWriter(queue, lambda: store.write_lock(), make_applier(store, settings))
    writer.start()
    return queue, writer
