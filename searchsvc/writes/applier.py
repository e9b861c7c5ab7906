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
from searchsvc.errors import owned_by_file_message
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


def _indexed_paths(store: IndexStore, ids: set[str]) -> dict[str, str]:
    """id -> stored path ("" for a document added over HTTP) of those of `ids` in the index."""
    if not ids or not store.exists():
        return {}
    ix, _ = store.open()
    with ix.searcher() as searcher:
        paths = searcher.reader().column_reader("path")
        found = {}
        for doc_id in ids:
            docnum = searcher.document_number(id=doc_id)
            if docnum is not None:
                found[doc_id] = paths[docnum]
        return found


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
    result = public_report(report.to_json(), settings.source_paths)
    if not report.generation:  # a source folder found empty (unmounted?) held documents: nothing was swapped
        return (task.id, "failed", result, "a source folder gave no documents: the index was not changed")
    return (task.id, "succeeded", result, None)


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
        # A document indexed from a file is owned by it: an HTTP write to it is refused here too (the API
        # refuses it at the door, but a file may have been indexed since the task was accepted).
        asked = {i for t in tasks for i in t.payload.get("ids", ())} | {
            str(raw.get("id")) for t in tasks for _, raw in t.payload.get("documents", ())
        }
        indexed = _indexed_paths(store, asked)
        owned = {i for i, path in indexed.items() if path}
        final: dict[str, Document | None] = {}  # id -> last document, or None for a delete (in order)
        outcomes: dict[int, Outcome] = {}
        for task in tasks:
            if task.kind == "delete":
                ids = list(task.payload.get("ids", ()))
                refused = [i for i in ids if i in owned]
                if refused:
                    outcomes[task.id] = (task.id, "failed", None, owned_by_file_message(refused[0]))
                    continue
                deleted = 0
                for doc_id in ids:
                    # It counts when present before the batch, or put earlier in it.
                    if final.get(doc_id) is not None or (doc_id not in final and doc_id in indexed):
                        deleted += 1
                    final.pop(doc_id, None)
                    final[doc_id] = None
                outcomes[task.id] = (task.id, "succeeded", {"deleted": deleted}, None)
                continue
            errors = list(task.payload.get("errors", ()))
            count = 0
            for index, raw in task.payload.get("documents", ()):
                if str(raw.get("id")) in owned:
                    errors.append({"index": index, "id": raw.get("id"), "message": owned_by_file_message(raw["id"])})
                    continue
                try:
                    doc = document_from_mapping(raw)
                except DocumentError as exc:  # validated at the door; kept for safety on old rows
                    errors.append({"index": index, "id": raw.get("id"), "message": exc.reason})
                    continue
                final.pop(doc.id, None)
                final[doc.id] = doc
                count += 1
            errors.sort(key=lambda e: e["index"])
            result = {"indexed": count, "rejected": len(errors), "errors": errors}
            outcomes[task.id] = (task.id, "succeeded", result, None)
        upserts = [d for d in final.values() if d is not None]
        deletes = [i for i, d in final.items() if d is None]
        if upserts or deletes:
            # Deletes alone need no spaCy model: do not load one for them.
            extractor = _get_extractor(settings.spacy_model) if upserts else _NoExtractor()
            apply_changes(store, upserts, deletes, extractor, settings.spacy_model)  # type: ignore[arg-type]  # duck-typed _NoExtractor
        return [outcomes[t.id] for t in tasks]

    return apply
