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
import itertools
import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from searchsvc.config import Settings
from searchsvc.documents import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DOCUMENT_BYTES,
    Document,
    LoadError,
    LoadWarning,
    iter_documents,
    size_of_inputs,
)
from searchsvc.extract.types import Extraction
from searchsvc.index import postings
from searchsvc.index.schema import (  # noqa: F401  (extraction_text is part of this module's interface)
    HASH_BYTES,
    SCHEMA_VERSION,
    document_fields,
    document_from_stored,
    extraction_text,
)

if TYPE_CHECKING:
    from searchsvc.extract import Extractor
from searchsvc.index.store import IndexStore

log = logging.getLogger(__name__)

# Bump when extraction changes in a way that should re-extract every document on the next run.
EXTRACTION_VERSION = 1
CHUNK = 32
# Documents read, extracted and written at a time: memory is bounded by a batch, not by the input.
BATCH = 2000
T = TypeVar("T")
Published = dt.date | dt.datetime | None


class RunOutcome(enum.Enum):
    """How an index run went, as a whole (the CLI maps it to its exit status)."""

    OK = "ok"  # every document indexed (or unchanged)
    PARTIAL = "partial"  # some documents failed, the rest were indexed
    NOTHING = "nothing"  # documents were given but none could be indexed


# Problems listed per file (failures, and warnings apart); the rest are counted: a 10 MB JSON array of numbers
# is 4.9 million failures (1.4 GB held, as many lines printed), and a JSON Lines file has no size limit.
MAX_LISTED = 100


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
    failed: int = 0  # every failure, listed or not
    listed: Counter[tuple[bool, str]] = field(default_factory=Counter, repr=False)

    def add(self, problem: LoadError | LoadWarning, file: str) -> None:
        """Record one of `file`'s problems; past MAX_LISTED of its failures (or warnings) they are only counted,
        and one more line says so."""
        error = isinstance(problem, LoadError)
        self.failed += error
        self.listed[error, file] += 1
        seen = self.listed[error, file]
        if seen > MAX_LISTED + 1:
            return
        if seen == MAX_LISTED + 1:
            note = f"more {'failures' if error else 'warnings'} in this file, not listed (the first {MAX_LISTED} are)"
            problem = LoadError(file, note) if error else LoadWarning(file, note)
        if isinstance(problem, LoadError):
            self.failures.append(problem)
        else:
            self.warnings.append(problem)

    @property
    def outcome(self) -> RunOutcome:
        done = self.indexed + self.updated + self.unchanged
        if not self.failures:
            return RunOutcome.OK
        return RunOutcome.PARTIAL if done else RunOutcome.NOTHING

    def to_json(self) -> dict[str, object]:
        return {
            "indexed": self.indexed,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
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
        [
            EXTRACTION_VERSION,
            SCHEMA_VERSION,
            model,
            doc.id,
            doc.title,
            doc.body,
            doc.published.isoformat() if doc.published else None,
            doc.url,
            doc.source,
            doc.author,
            list(doc.tags),
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).digest()[:HASH_BYTES].hex()


# -- extraction in worker processes ---------------------------------------------------------------------------
_worker_extractor = None


def _init_worker(model: str) -> None:
    global _worker_extractor
    from searchsvc.extract import Extractor

    _worker_extractor = Extractor(model)


def _extract_chunk(items: list[tuple[str, object]]) -> list[Extraction]:
    assert _worker_extractor is not None
    return list(_worker_extractor.extract_many(items, batch_size=len(items)))  # type: ignore[arg-type]  # pickled tuples


class ExtractionPool:
    """Extraction in this process (one worker, or the caller's loaded `extractor`) or in a spawned pool. Opened
    on first use, so a run with nothing to extract never loads spaCy, and kept across batches, so each
    process loads the model once per run."""

    def __init__(self, model: str, workers: int, extractor: Extractor | None = None) -> None:
        self.model = model
        self.workers = workers
        self.extractor = extractor
        self._pool: Any = None

    def extract(self, items: list[tuple[str, Published]]) -> Iterator[Extraction]:
        """Extractions of `items`, in order."""
        if self.extractor is not None or self.workers <= 1 or (self._pool is None and len(items) <= CHUNK):
            if self.extractor is None:
                from searchsvc.extract import Extractor

                self.extractor = Extractor(self.model)
            yield from self.extractor.extract_many(items, batch_size=CHUNK)
            return
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # safe under gunicorn's threads, unlike fork
            self._pool = ctx.Pool(self.workers, initializer=_init_worker, initargs=(self.model,))
        chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
        for extractions in self._pool.imap(_extract_chunk, chunks):
            yield from extractions

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def _extract_unique(
    items: list[tuple[str, Published]],
    model: str,
    workers: int,
    extractor: Extractor | None = None,
    pool: ExtractionPool | None = None,
) -> Iterator[Extraction]:
    """Extractions of `items` in order, with `pool` when given, else with one opened for this call."""
    if pool is not None:
        yield from pool.extract(items)
        return
    own = ExtractionPool(model, workers, extractor)
    try:
        yield from own.extract(items)
    finally:
        own.close()


def extract_all(
    docs: Sequence[Document],
    model: str,
    workers: int,
    extractor: Extractor | None = None,
    pool: ExtractionPool | None = None,
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
    produced = _extract_unique(unique, model, workers, extractor, pool)
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


def _existing_any(store: IndexStore) -> dict[str, tuple[str, str]]:
    """`_existing` of the live generation, of any schema version, before a rebuild replaces it; empty when
    there is none or it cannot be read (then there is nothing a rebuild could lose)."""
    if store.read_marker(any_version=True) is None:
        return {}
    try:
        ix, _ = store.open(any_version=True)
        with ix.reader() as reader:
            ids, paths = reader.column_reader("id"), reader.column_reader("path")
            return {ids[n]: ("", paths[n]) for n in reader.all_doc_ids()}
    except Exception:  # an index too old to have the columns, or damaged
        log.warning("cannot read the documents of the index being rebuilt", exc_info=True)
        return {}


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
    it, and every later write to the index would fail with LockError. Then the search kernel's derived postings
    of the new segments are written (index/postings.py); without them each reader rebuilds its own."""
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
    _write_derived(writer)


def _write_derived(ix: Any) -> None:
    """The search kernel's derived postings of the segments of `ix` (an index or its writer) that lack them."""
    try:
        postings.write_missing(ix.storage, ix.indexname)
    except Exception:  # derived files: the readers rebuild what is missing
        log.warning("cannot write the search kernel's postings", exc_info=True)


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


def _under(path: str, places: Iterable[str]) -> bool:
    """Whether `path` is one of `places` or inside one of them (all absolute)."""
    return any(path == place or path.startswith(place.rstrip("/") + "/") for place in places)


def _source_name(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) if root.is_dir() else path.name
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class IndexOptions:
    """What an index run does: the spaCy model, extraction processes, rebuild or prune, and the size limits."""

    model: str
    workers: int = 1
    rebuild: bool = False
    prune: bool = False
    max_file_bytes: int = DEFAULT_MAX_BYTES
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> IndexOptions:
        fields = {
            "model": settings.spacy_model,
            "workers": settings.index_workers,
            "max_file_bytes": settings.max_file_bytes,
            "max_document_bytes": settings.max_document_bytes,
        }
        return cls(**(fields | overrides))


def index_paths(
    paths: Iterable[Path],
    store: IndexStore,
    options: IndexOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    take_lock: bool = True,
    extractor: Extractor | None = None,
) -> IndexReport:
    """Index the documents under `paths` into `store`: new and changed ones are extracted and written, unchanged
    ones skipped, and with `options.prune` documents whose files are gone are removed. Holds the store's write lock
    (pass take_lock=False when the caller already holds it). A rebuild keeps documents added over HTTP.
    `extractor`: a loaded one to use in this process (the HTTP writer's), instead of loading the model.

    Documents stream through in batches of BATCH (read, extract, write), so memory does not grow with the size
    of the input: a JSON Lines export of any size is read a line at a time. `progress(bytes read, bytes in
    all)` follows the input files' bytes."""
    started = time.perf_counter()
    report = IndexReport()
    roots = [Path(p) for p in paths]
    with store.write_lock() if take_lock else contextlib.nullcontext():
        rebuild = options.rebuild
        if not rebuild and store.outdated():
            log.warning("%s was built with an older schema version: rebuilding it", store.root)
            rebuild = True
        carried = _api_documents(store) if rebuild and store.read_marker(any_version=True) else []
        fresh = rebuild or not store.exists()
        existing = {} if fresh else _existing(store)
        seen: dict[str, str] = {}
        failed: set[str] = set()  # files and folders that could not be read whole: prune keeps their documents
        found: set[Path] = set()  # roots that gave a document or a failure
        meter = _ByteMeter(roots, progress)

        def changed() -> Iterator[tuple[Document, str, str, int]]:
            """The documents to write (new or changed), as (document, path, content hash, input bytes read)."""
            for root in roots:
                documents = iter_documents(
                    [root],
                    max_bytes=options.max_file_bytes,
                    root=root,
                    max_document_bytes=options.max_document_bytes,
                    on_bytes=meter.add,
                )
                for path, item in documents:
                    if isinstance(item, LoadWarning):
                        report.add(item, str(path))
                        continue
                    found.add(root)
                    if isinstance(item, LoadError):
                        report.add(item, str(path))
                        failed.add(os.path.abspath(path))
                        continue
                    name = _source_name(path, root)
                    if item.id in seen:
                        report.add(
                            LoadError(name, f"duplicate id {item.id!r}, first seen in {seen[item.id]}"), str(path)
                        )
                        failed.add(os.path.abspath(path))
                        continue
                    seen[item.id] = name
                    digest = content_hash(item, options.model)
                    old = existing.get(item.id)
                    if old is not None and old[0] == digest:
                        report.unchanged += 1
                        continue
                    # The path as walked (absolute, links not resolved): what prune compares with the next walk.
                    yield item, os.path.abspath(path), digest, meter.read

        writer: Any = None
        generation = ""
        pool = ExtractionPool(options.model, options.workers, extractor)
        try:
            for batch in _batched(changed(), BATCH):
                if writer is None:
                    writer, generation = _open_writer(store, fresh)
                docs = [d for d, _, _, _ in batch]
                extractions = extract_all(docs, options.model, options.workers, pool=pool)
                for (doc, path, digest, read), extraction in zip(batch, extractions, strict=True):
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
                    meter.show(read)
            # A source folder found empty is what an unmounted volume looks like: pruning or rebuilding would
            # drop every document indexed from it (the CLI refuses a missing folder for the same reason).
            unfound = [root for root in roots if root not in found]
            live = (_existing_any(store) if fresh else existing) if unfound and (fresh or options.prune) else {}
            empty = False
            for root in unfound:
                places = {os.path.abspath(root), str(root.resolve())}
                held = sum(1 for _, path in live.values() if path and _under(path, places))
                if held:
                    kept = "the index was not rebuilt" if fresh else "they are kept"
                    reason = f"no documents found (an unmounted folder?): {held} were indexed from it, {kept}"
                    report.add(LoadError(str(root), reason), str(root))
                    failed.update(places)
                    empty = True
            if fresh and empty:  # the live generation stays; the new one is dropped
                if writer is not None:
                    writer.cancel()
                report.indexed = report.updated = report.words = 0  # nothing was: the run's outcome is NOTHING
                report.seconds = time.perf_counter() - started
                return report
            stale: list[str] = []
            if options.prune and not fresh:
                # Paths are stored as walked; an index written before that stored them resolved.
                prefixes = {os.path.abspath(r) for r in roots} | {str(r.resolve()) for r in roots}
                # A document is stale when its file is gone, not when the file (or its folder) failed to read
                # this time: a file saved half-written, or a folder that could not be listed, lost them all.
                stale = [
                    doc_id
                    for doc_id, (_, path) in existing.items()
                    if doc_id not in seen and path and _under(path, prefixes) and not _under(path, failed)
                ]
            if writer is None and (fresh or stale):
                writer, generation = _open_writer(store, fresh)
            if writer is None:  # nothing changed
                ix, marker = store.open()
                # Derived files an older release wrote in another format (or that were deleted) are brought
                # up to date here, so that an upgrade's `searchsvc index` leaves nothing for the workers to build.
                _write_derived(ix)
                report.generation = marker.generation
                report.seconds = time.perf_counter() - started
                return report
            for doc, extraction in carried:
                if doc.id not in seen:
                    writer.add_document(
                        **document_fields(doc, extraction, path="", content_hash=content_hash(doc, options.model))
                    )
            for doc_id in stale:
                writer.delete_by_term("id", doc_id)
            report.deleted = len(stale)
        except BaseException:
            if writer is not None:
                writer.cancel()
            raise
        finally:
            pool.close()
            meter.done()
        commit(writer)
        marker = store.publish(generation) if fresh else store.touch()
        report.generation = marker.generation
    report.seconds = time.perf_counter() - started
    return report


def _open_writer(store: IndexStore, fresh: bool) -> tuple[Any, str]:
    """A Whoosh writer on a new generation (fresh) or on the live one, and that generation's name."""
    if fresh:
        ix, generation = store.create_generation()
    else:
        ix, marker = store.open()
        generation = marker.generation
    return ix.writer(limitmb=256), generation


def _batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """itertools.batched, which Python 3.11 lacks."""
    iterator = iter(items)
    while batch := tuple(itertools.islice(iterator, size)):
        yield batch


class _ByteMeter:
    """Progress in bytes of the input: `read` counts what the loaders read; `show(read)` reports the input
    indexed up to a written document. The total is the files' size on disk, found by a walk that reads none."""

    def __init__(self, roots: list[Path], progress: Callable[[int, int], None] | None) -> None:
        self.progress = progress
        self.read = 0
        self.total = sum(size_of_inputs(root) for root in roots) if progress else 0

    def add(self, n: int) -> None:
        self.read += n

    def show(self, read: int) -> None:
        if self.progress:
            self.progress(min(read, self.total), self.total)

    def done(self) -> None:
        if self.progress and self.total:
            self.progress(self.total, self.total)
