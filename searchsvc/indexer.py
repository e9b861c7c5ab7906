"""Building, updating and atomically replacing the index.

Extraction (spaCy) is the slow part, so it runs in worker processes while this process is the one Whoosh writer.
A document whose content hash is already in the index is skipped without loading spaCy at all, which keeps an
unchanged re-run to file reading and hashing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import json
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchsvc.documents import Document, LoadError, LoadWarning, iter_documents
from searchsvc.extract.types import Extraction
from searchsvc.schema import HASH_BYTES, SCHEMA_VERSION, document_fields, document_from_stored

if TYPE_CHECKING:
    from searchsvc.extract import Extractor
from searchsvc.store import IndexStore

log = logging.getLogger(__name__)

# Bump when extraction changes in a way that should re-extract every document on the next run.
EXTRACTION_VERSION = 1
CHUNK = 32
Published = dt.date | dt.datetime | None


class ExitStatus(enum.IntEnum):
    """What `searchsvc index` tells a script."""

    OK = 0  # every document indexed (or unchanged)
    PARTIAL = 1  # some documents failed, the rest were indexed
    NOTHING = 2  # documents were given but none could be indexed
    ERROR = 3  # the index itself could not be opened or written, or the arguments were wrong


@dataclass
class IndexReport:
    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    words: int = 0
    seconds: float = 0.0
    failures: list[LoadError] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)
    generation: str = ""

    @property
    def exit_status(self) -> ExitStatus:
        done = self.indexed + self.updated + self.unchanged
        if not self.failures:
            return ExitStatus.OK
        return ExitStatus.PARTIAL if done else ExitStatus.NOTHING

    def to_json(self) -> dict[str, object]:
        return {
            "indexed": self.indexed,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": len(self.failures),
            "words": self.words,
            "seconds": round(self.seconds, 3),
            "generation": self.generation,
            "failures": [{"name": f.name, "reason": f.reason} for f in self.failures],
            "warnings": [{"name": w.name, "reason": w.reason} for w in self.warnings],
        }


Progress = Callable[[int], None]


def content_hash(doc: Document, model: str) -> str:
    """Changes when the document, the extraction code, the schema or the model changes: 128 bits of SHA-256,
    in hex (the index keeps the bytes)."""
    payload = json.dumps(
        [EXTRACTION_VERSION, SCHEMA_VERSION, model, doc.id, doc.title, doc.body,
         doc.published.isoformat() if doc.published else None, doc.url, doc.source, doc.author, list(doc.tags)],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).digest()[:HASH_BYTES].hex()


def extraction_text(doc: Document) -> str:
    """What entities and dates are read from: the title, then the body. Not a title that the body starts
    with, nor a title set in capitals over a body ("BANKAMERICA SEES DIVIDEND"): the NER model, trained on
    mixed case, reads one as a string of names ("DIVIDEND", "BUY", "INDEX FALLS" were 300 of the 380
    entities that the capital titles of 600 Reuters articles added), and the body names the same things."""
    if not doc.title or doc.body.startswith(doc.title) or (doc.title.isupper() and doc.body.strip()):
        return doc.body
    return f"{doc.title}\n\n{doc.body}"


# -- extraction in worker processes ---------------------------------------------------------------------------
_worker_extractor = None


def _init_worker(model: str) -> None:
    global _worker_extractor
    from searchsvc.extract import Extractor

    _worker_extractor = Extractor(model)


def _extract_chunk(items: list[tuple[str, object]]) -> list[Extraction]:
    assert _worker_extractor is not None
    return list(_worker_extractor.extract_many(items, batch_size=len(items)))  # type: ignore[arg-type]


def _extract_unique(
    items: list[tuple[str, Published]], model: str, workers: int, extractor: Extractor | None = None
) -> Iterator[Extraction]:
    """Extractions of `items` in order; in this process for one worker (with `extractor` when the caller has
    one loaded), else in a spawned pool."""
    if extractor is not None or workers <= 1 or len(items) <= CHUNK:
        if extractor is None:
            from searchsvc.extract import Extractor

            extractor = Extractor(model)
        yield from extractor.extract_many(items, batch_size=CHUNK)
        return
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    ctx = multiprocessing.get_context("spawn")  # safe under gunicorn's threads, unlike fork
    with ctx.Pool(workers, initializer=_init_worker, initargs=(model,)) as pool:
        for extractions in pool.imap(_extract_chunk, chunks):
            yield from extractions


def extract_all(
    docs: Sequence[Document], model: str, workers: int, extractor: Extractor | None = None
) -> Iterator[Extraction]:
    """Extractions in the order of `docs`.

    Extraction is a pure function of (text, publication date), so documents that repeat both (syndicated
    copies, the same article under several ids) are extracted once and share the (frozen) result; it is kept
    only until the last document that needs it was yielded.
    """
    slots: list[int] = []  # per document, the index of its (text, published) among the unique ones
    first: dict[tuple[str, Published], int] = {}
    unique: list[tuple[str, Published]] = []
    for d in docs:
        key = (extraction_text(d), d.published)
        slot = first.setdefault(key, len(unique))
        if slot == len(unique):
            unique.append(key)
        slots.append(slot)
    if not unique:
        return
    del first
    uses = Counter(slots)
    produced = _extract_unique(unique, model, workers, extractor)
    kept: dict[int, Extraction] = {}
    for slot in slots:
        if slot not in kept:  # a first occurrence: slots are first seen in order, so it is the next one
            kept[slot] = next(produced)
        extraction = kept[slot]
        uses[slot] -= 1
        if not uses[slot]:
            del kept[slot]
        yield extraction


# -- the index run ------------------------------------------------------------------------------------------
def _existing(store: IndexStore) -> dict[str, tuple[str, str]]:
    """id -> (content hash, path) of every live document, read from columns (no stored bodies)."""
    ix, _ = store.open()
    with ix.reader() as reader:
        ids = reader.column_reader("id")
        hashes = reader.column_reader("content_hash")
        paths = reader.column_reader("path")
        return {ids[n]: (hashes[n].hex(), paths[n]) for n in reader.all_doc_ids()}


def _api_documents(store: IndexStore) -> list[tuple[Document, Extraction]]:
    """Documents added over HTTP (no source file) with their extractions, to carry into a rebuilt generation
    (of this or an older schema version: both store what document_from_stored reads)."""
    ix, _ = store.open(any_version=True)
    with ix.searcher() as searcher:
        out = []
        for docnum in searcher.document_numbers(path=""):
            stored = searcher.stored_fields(docnum)
            out.append(document_from_stored(stored))
        return out


def commit(writer: Any) -> None:
    """writer.commit(), releasing Whoosh's index lock when it fails (a full disk, say): a failed commit keeps
    it, and every later write to the index would fail with LockError."""
    try:
        writer.commit()
    except BaseException:
        if not writer.is_closed:
            with contextlib.suppress(Exception):
                writer.cancel()
        if writer.writelock is not None:
            with contextlib.suppress(Exception):
                writer.writelock.release()
        raise


def apply_changes(
    store: IndexStore, upserts: Sequence[Document], deletes: Sequence[str], extractor: Extractor, model: str
) -> None:
    """Upsert and delete documents by id in the live generation with one commit; the caller holds the write
    lock. Creates the index if there is none yet. Idempotent, so re-applying after a crash is harmless."""
    if store.exists():
        ix, _ = store.open()
        fresh_generation = None
    else:
        ix, fresh_generation = store.create_generation()
    extractions = list(extractor.extract_many([(extraction_text(d), d.published) for d in upserts], batch_size=CHUNK))
    writer = ix.writer(limitmb=128)
    try:
        for doc_id in deletes:
            writer.delete_by_term("id", doc_id)
        for doc, extraction in zip(upserts, extractions, strict=True):
            fields = document_fields(doc, extraction, path="", content_hash=content_hash(doc, model))
            writer.update_document(**fields)
    except BaseException:
        writer.cancel()
        raise
    commit(writer)
    if fresh_generation:
        store.publish(fresh_generation)
    else:
        store.touch()


def _source_name(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) if root.is_dir() else path.name
    except ValueError:
        return str(path)


def index_paths(
    paths: Iterable[Path],
    store: IndexStore,
    *,
    model: str,
    workers: int = 1,
    rebuild: bool = False,
    prune: bool = False,
    max_file_bytes: int = 10_000_000,
    progress: Callable[[int, int], None] | None = None,
    take_lock: bool = True,
    extractor: Extractor | None = None,
) -> IndexReport:
    """Index the documents under `paths` into `store`: new and changed ones are extracted and written, unchanged
    ones skipped, and with `prune` documents whose files are gone are removed. Holds the store's write lock
    (pass take_lock=False when the caller already holds it). A rebuild keeps documents added over HTTP.
    `extractor`: a loaded one to use in this process (the HTTP writer's), instead of loading the model."""
    started = time.perf_counter()
    report = IndexReport()
    roots = [Path(p) for p in paths]
    with store.write_lock() if take_lock else contextlib.nullcontext():
        if not rebuild and store.outdated():
            log.warning("%s was built with an older schema version: rebuilding it", store.root)
            rebuild = True
        carried = _api_documents(store) if rebuild and store.read_marker(any_version=True) else []
        fresh = rebuild or not store.exists()
        existing = {} if fresh else _existing(store)
        pending: list[tuple[Document, str, str]] = []  # document, path, hash
        seen: dict[str, str] = {}
        for root in roots:
            for path, item in iter_documents([root], max_bytes=max_file_bytes, root=root):
                if isinstance(item, LoadWarning):
                    report.warnings.append(item)
                    continue
                if isinstance(item, LoadError):
                    report.failures.append(item)
                    continue
                name = _source_name(path, root)
                if item.id in seen:
                    report.failures.append(LoadError(name, f"duplicate id {item.id!r}, first seen in {seen[item.id]}"))
                    continue
                seen[item.id] = name
                digest = content_hash(item, model)
                old = existing.get(item.id)
                if old is not None and old[0] == digest:
                    report.unchanged += 1
                    continue
                pending.append((item, str(path.resolve()), digest))

        stale: list[str] = []
        if prune and not fresh:
            resolved_roots = [str(r.resolve()) for r in roots]
            stale = [
                doc_id for doc_id, (_, path) in existing.items()
                if doc_id not in seen and path and any(path == r or path.startswith(r + "/") for r in resolved_roots)
            ]

        if fresh:
            ix, generation = store.create_generation()
        elif pending or stale:  # an incremental update of the live generation
            ix, marker = store.open()
            generation = marker.generation
        else:
            report.generation = store.read_marker().generation  # type: ignore[union-attr]
            report.seconds = time.perf_counter() - started
            return report

        writer = ix.writer(limitmb=256)
        try:
            docs = [d for d, _, _ in pending]
            for n, ((doc, path, digest), extraction) in enumerate(
                zip(pending, extract_all(docs, model, workers, extractor), strict=True), 1
            ):
                fields = document_fields(doc, extraction, path=path, content_hash=digest)
                if fresh:
                    writer.add_document(**fields)
                else:
                    writer.update_document(**fields)
                if doc.id in existing:
                    report.updated += 1
                else:
                    report.indexed += 1
                report.words += len(doc.body.split()) + len(doc.title.split())
                if progress:
                    progress(n, len(pending))
            for doc, extraction in carried:
                if doc.id not in seen:
                    writer.add_document(
                        **document_fields(doc, extraction, path="", content_hash=content_hash(doc, model))
                    )
            for doc_id in stale:
                writer.delete_by_term("id", doc_id)
            report.deleted = len(stale)
        except BaseException:
            writer.cancel()
            raise
        commit(writer)
        marker = store.publish(generation) if fresh else store.touch()
        report.generation = marker.generation
    report.seconds = time.perf_counter() - started
    return report
