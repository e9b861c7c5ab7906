"""Turning a batch of write tasks into index changes: the glue between the task queue and the indexer.

Within a batch only the last operation on an id counts (a PUT then a DELETE of one id deletes it), because a
Whoosh writer cannot see the documents it has buffered but not committed.

Task payloads (written by api/write_routes.py, already validated):
    documents  {"documents": [[index in the request, document as DocumentSchema dumps it], ...],
                "errors": [{"index", "id", "message"}, ...]}   (the documents rejected at the door)
    delete     {"ids": [id, ...]}
    reindex    {}
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from searchsvc.config import Settings
from searchsvc.documents import Document, DocumentError, DocumentSchema, document_from_mapping
from searchsvc.index.indexer import IndexOptions, apply_changes, index_paths
from searchsvc.index.store import IndexStore
from searchsvc.writes.tasks import Apply, Outcome, Task

log = logging.getLogger("searchsvc.writes")

_extractor = None
_extractor_lock = threading.Lock()
_DUMP = DocumentSchema()


def _get_extractor(model: str):
    """One spaCy pipeline per process, loaded the first time this process becomes the writer."""
    global _extractor
    with _extractor_lock:
        if _extractor is None or _extractor.model != model:
            from searchsvc.extract import Extractor

            _extractor = Extractor(model)
        return _extractor


class _NoExtractor:
    """Stands in for the Extractor when a batch has nothing to extract."""

    def extract_many(self, items: list[Any], batch_size: int = 0) -> list[Any]:
        assert not items
        return []


def dump_document(doc: Document) -> dict[str, Any]:
    """A validated document as JSON-ready values: what a task stores, and `document_from_mapping` loads."""
    return _DUMP.dump(doc)


def _existing_ids(store: IndexStore, ids: set[str]) -> set[str]:
    if not ids or not store.exists():
        return set()
    ix, _ = store.open()
    with ix.searcher() as searcher:
        return {i for i in ids if searcher.document_number(id=i) is not None}


def _reindex(task: Task, store: IndexStore, settings: Settings) -> Outcome:
    missing = [p for p in settings.source_paths if not p.exists()]
    if missing or not settings.source_paths:
        # Rebuilding from nothing would drop every document that came from files. The path is logged, not shown
        # in the task (read with the search key).
        if missing:
            log.warning("reindex task %d: source folder %s does not exist", task.id, missing[0])
        reason = f"source folder {missing[0].name!r} does not exist" if missing else "no source folder is configured"
        return (task.id, "failed", None, f"{reason}: set SEARCHSVC_SOURCES; the index was not changed")
    report = index_paths(
        settings.source_paths,
        store,
        IndexOptions.from_settings(settings, workers=1, rebuild=True),
        take_lock=False,  # the task writer holds it
        extractor=_get_extractor(settings.spacy_model),  # not a second copy of the model
    )
    return (task.id, "succeeded", public_report(report.to_json(), settings.source_paths), None)


def public_report(report: dict[str, Any], roots: list[Path]) -> dict[str, Any]:
    """The index report as /tasks shows it: file names relative to their source folder, not absolute server
    paths (in names and in reasons such as "first loaded from ...")."""
    prefixes = sorted({str(r) for root in roots for r in (root, root.resolve())}, key=len, reverse=True)

    def relative(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix + os.sep, "")
        return text

    out = dict(report)
    for key in ("failures", "warnings"):
        out[key] = [{"name": relative(i["name"]), "reason": relative(i["reason"])} for i in report.get(key, ())]
    return out


def make_applier(store: IndexStore, settings: Settings) -> Apply:
    def apply(tasks: list[Task]) -> list[Outcome]:
        if len(tasks) == 1 and tasks[0].kind == "reindex":
            return [_reindex(tasks[0], store, settings)]
        final: dict[str, Document | None] = {}  # id -> last document, or None for a delete (in order)
        results: dict[int, dict[str, Any]] = {}
        deletes_by_task: dict[int, list[str]] = {}
        for task in tasks:
            if task.kind == "delete":
                deletes_by_task[task.id] = list(task.payload.get("ids", ()))
                for doc_id in deletes_by_task[task.id]:
                    final.pop(doc_id, None)
                    final[doc_id] = None
                results[task.id] = {"deleted": 0}
                continue
            errors = list(task.payload.get("errors", ()))
            indexed = 0
            for index, raw in task.payload.get("documents", ()):
                try:
                    doc = document_from_mapping(raw)
                except DocumentError as exc:  # validated at the door; kept for safety on old rows
                    errors.append({"index": index, "id": raw.get("id"), "message": exc.reason})
                    continue
                final.pop(doc.id, None)
                final[doc.id] = doc
                indexed += 1
            errors.sort(key=lambda e: e["index"])
            results[task.id] = {"indexed": indexed, "rejected": len(errors), "errors": errors}
        # A delete counts the documents it removed: present before the batch, or put earlier in it.
        present = _existing_ids(store, {i for ids in deletes_by_task.values() for i in ids})
        for task in tasks:
            for doc_id in task.payload.get("ids", ()):
                if doc_id in present:
                    results[task.id]["deleted"] += 1
                    present.discard(doc_id)
            for _, raw in task.payload.get("documents", ()):
                present.add(str(raw.get("id")))
        upserts = [d for d in final.values() if d is not None]
        deletes = [i for i, d in final.items() if d is None]
        if upserts or deletes:
            # Deletes alone need no spaCy model: do not load one for them.
            extractor = _get_extractor(settings.spacy_model) if upserts else _NoExtractor()
            apply_changes(store, upserts, deletes, extractor, settings.spacy_model)  # type: ignore[arg-type]  # duck-typed _NoExtractor
        return [(t.id, "succeeded", results[t.id], None) for t in tasks]

    return apply
