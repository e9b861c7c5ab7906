"""Derived postings: each Whoosh segment's inverted lists as numpy arrays, for the search kernel (search/kernel.py).

Whoosh stores postings compactly but scores them one document at a time in Python. The kernel scores whole posting
arrays at once; it reads them from files written beside each segment when it is committed (`write_missing`, called
by indexer.commit for `searchsvc index` and the HTTP writer alike), memory-mapped, so every worker process shares one
copy in the page cache. The files are derived: Whoosh stays the source of truth, and `load` rebuilds a segment's
files when they are missing or stale (another segment id, document count or format; the search service does it in
the background, outside any request), so deleting them loses nothing. A write is a
temporary ".<segment id>-*" folder, synced, renamed into place; one left by a crash is removed by the next write.
One process builds a segment's files at a time (a lock on ".<segment id>.lock"); the others wait and read them.

    <generation>/kernel/<segment id>/
      meta.json     format, segment id, documents (deleted ones included), fields, scored fields, their total lengths
      keys.npy      uint8: every "field\\x00term" key, sorted and concatenated
      ends.npy      int64: where each key ends in keys.npy
      starts.npy    int64: where each key's postings start in docs/freqs (one more entry: the end)
      docs.npy      int32: document numbers within the segment, ascending per key
      freqs.npy     uint16 (whole frequencies up to 65,535) or float32: the posting's weight (term frequency)
      pos_starts.npy uint32 (int64 past 2**32 positions): where each posting's positions start in positions.npy
                    (one more entry: the end); a posting of a field without positions has none
      positions.npy uint16 (every position below 65,536) or int32: the positions of the postings of the fields
                    with positions (`text`, `entity`), ascending per posting
      title_positions.npy int32 per document: positions the title takes in `text` (field_parts.py)
      lengths.npy   float32 [scored field, document]: field lengths as Whoosh decodes them (one lossy byte)

Positions let the kernel check phrases and `title:`/`body:` parts itself, a whole segment's candidates at once,
where Whoosh walks them one document at a time.

Deletions are not in the files: they change without a new segment, so the kernel masks the segment's deleted
documents at query time. Terms of the fields the kernel answers (KERNEL_FIELDS) are kept; `id`, `path` and the
alias table are looked up through Whoosh.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.columns import NumericColumn
from whoosh.compat import loads
from whoosh.formats import Positions
from whoosh.index import FileIndex
from whoosh.reading import SegmentReader
from whoosh.system import _INT_SIZE
from whoosh.util.numeric import byte_to_length

from searchsvc.index.store import sync_folder

log = logging.getLogger("searchsvc")

FORMAT = 3  # 3: positions
FOLDER = "kernel"
KERNEL_FIELDS = ("text", "entity", "person", "org", "place", "tags", "source", "published", "mentioned")
SEP = b"\x00"
STALE_TEMP_SECONDS = 3600.0  # a temporary folder of _write untouched this long was left by a writer that died
_FILES = ("keys", "ends", "starts", "docs", "freqs", "pos_starts", "positions", "title_positions", "lengths")
TITLE_POSITIONS = "title_positions"  # the column (schema.py)
BLOCK = 64  # keys per block of the sampled key index (_Keys)
_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float32)


class _Keys:
    """The sorted keys as a sequence of bytes, for bisect. The blob is copied into bytes and the ends read as a
    plain array: slicing a numpy memmap costs microseconds in Python, and a lookup bisects ~17 keys (34 us a
    find at 104k articles, 4 us this way)."""

    def __init__(self, blob: np.ndarray, ends: np.ndarray) -> None:
        self.blob = blob.tobytes()
        self.ends = np.asarray(ends)
        # Every BLOCK-th key as a list, bisected in C first; then only a block is bisected key by key.
        self.sample = [self[i] for i in range(0, len(self.ends), BLOCK)]

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> bytes:
        start = int(self.ends[i - 1]) if i else 0
        return self.blob[start : int(self.ends[i])]

    def _block(self, key: bytes) -> tuple[int, int]:
        """The range of indexes where `key` would be inserted: the block after the last sampled key <= it."""
        j = max(0, bisect.bisect_right(self.sample, key) - 1)
        return j * BLOCK, min(len(self.ends), (j + 1) * BLOCK)

    def bisect_left(self, key: bytes) -> int:
        return bisect.bisect_left(self, key, *self._block(key))

    def bisect_right(self, key: bytes) -> int:
        return bisect.bisect_right(self, key, *self._block(key))


@dataclass
class SegmentPostings:
    """One segment's derived postings (memory-mapped, or in memory when they could not be written)."""

    segment_id: str
    documents: int  # doc_count_all: deleted documents included
    scored: tuple[str, ...]
    field_totals: dict[str, float]  # each scored field's total length (Whoosh's field_length)
    keys: _Keys
    starts: np.ndarray
    docs: np.ndarray
    freqs: np.ndarray
    positional: tuple[str, ...]  # the fields whose postings have positions here
    pos_starts: np.ndarray
    positions: np.ndarray
    title_positions: np.ndarray
    lengths: np.ndarray  # [len(scored), documents]

    def find(self, fieldname: str, text: bytes) -> int:
        """The key's index, or -1."""
        key = fieldname.encode("utf-8") + SEP + text
        i = self.keys.bisect_left(key)
        return i if i < len(self.keys) and self.keys[i] == key else -1

    def postings(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, weights) of key `i`."""
        lo, hi = int(self.starts[i]), int(self.starts[i + 1])
        return self.docs[lo:hi], self.freqs[lo:hi]

    def positions_of(self, i: int, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(document of each position, position) of key `i` in `docs` (ascending documents that key holds), in
        document then position order."""
        lo, hi = int(self.starts[i]), int(self.starts[i + 1])
        at = lo + np.searchsorted(self.docs[lo:hi], docs)
        first, last = self.pos_starts[at].astype(np.int64), self.pos_starts[at + 1].astype(np.int64)
        counts = last - first
        # Every posting's range of positions gathered at once: `first` repeated, plus 0, 1, ... within each.
        offsets = np.repeat(first - np.cumsum(counts) + counts, counts)
        index = offsets + np.arange(int(counts.sum()), dtype=np.int64)
        return np.repeat(docs, counts), self.positions[index]

    def doc_frequency(self, i: int) -> int:
        return int(self.starts[i + 1] - self.starts[i])

    def range(self, fieldname: str, lo: bytes, hi: bytes) -> range:
        """Indexes of the keys of `fieldname` from `lo` to `hi` (both included)."""
        prefix = fieldname.encode("utf-8") + SEP
        return range(self.keys.bisect_left(prefix + lo), self.keys.bisect_right(prefix + hi))

    def field_lengths(self, fieldname: str) -> np.ndarray | None:
        return self.lengths[self.scored.index(fieldname)] if fieldname in self.scored else None


def folder_of(storage_folder: str | Path, segment_id: str) -> Path:
    return Path(storage_folder) / FOLDER / segment_id


# -- building --------------------------------------------------------------------------------------------------
def _raw_postings(reader: Any, fieldname: str, text: bytes) -> Any:
    """The term's postings with deleted documents too (they count in Whoosh's statistics; the kernel masks them at
    query time). reader.postings() wraps them in a FilterMatcher that has already stepped past the deleted ones,
    so the segment reader's term table is asked directly (Whoosh-Reloaded's SegmentReader, pinned)."""
    terms = getattr(reader, "_terms", None)
    if terms is None:
        return reader.postings(fieldname, text)
    return terms.matcher(fieldname, text, reader.schema[fieldname].format, scorer=None)


def _leaf_postings(matcher: Any, values: bool) -> Iterator[tuple[list[int], Any, Any]]:
    """(ids, weights, raw values or None) a block at a time from Whoosh-Reloaded's W3LeafMatcher (pinned); other
    matchers one by one."""
    if type(matcher).__name__ != "W3LeafMatcher" or getattr(matcher, "_byteids", True) or matcher._i:
        ids, weights, raw = [], [], []
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            if values:
                raw.append(matcher.value())
            matcher.next()
        yield ids, weights, raw if values else None
        return
    while matcher.is_active():
        if matcher._data is None:
            matcher._read_data()
        ids = list(accumulate(matcher._data[0]))
        matcher._read_weights()
        if values:
            matcher._read_values()
        yield ids, matcher._weights, matcher._values if values else None
        matcher._next_block()


def _has_positions(field: Any) -> bool:
    """Whether the field's postings hold positions as formats.Positions encodes them (the only encoding read)."""
    return type(field.format) is Positions


def _position_deltas(raw: Any) -> Iterator[list[int]]:
    """Each value's position deltas (formats.Positions.decode_positions, without the running sum)."""
    for value in raw:
        body = value[_INT_SIZE:]
        yield loads(body if body.endswith(b".") else body + b".")


def _positions(deltas: list[int], counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(positions, starts): each posting's deltas summed from 0, as decode_positions does."""
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    running = np.cumsum(np.asarray(deltas, dtype=np.int64))
    before = np.concatenate(([0], running))[starts[:-1]]  # the running sum before each posting
    positions = running - np.repeat(before, counts)
    # One entry per posting of every field: half the size in uint32 (a segment of 2**32 positions keeps int64).
    narrow = starts[-1] < 2**32
    return _narrowest(positions, np.int32), starts.astype(np.uint32) if narrow else starts


def _narrowest(values: np.ndarray, wide: Any) -> np.ndarray:
    """`values` as uint16 when they are all whole numbers from 0 to 65,535 (positions in news-sized documents,
    term frequencies), else as `wide`: the files are memory-mapped, and what a worker maps counts in its RSS."""
    if len(values) and values.min() >= 0 and values.max() <= np.iinfo(np.uint16).max:
        narrow = values.astype(np.uint16)
        if np.array_equal(narrow, values):
            return narrow
    return values.astype(wide)


def _lengths(reader: Any, fieldname: str, documents: int) -> np.ndarray:
    perdoc = getattr(reader, "_perdoc", None)
    column = perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN) if perdoc is not None else None
    if column is None:
        return np.zeros(documents, dtype=np.float32)
    if isinstance(column, NumericColumn.Reader) and column._fixedlen == 1:
        raw = np.frombuffer(bytes(column._dbfile.get(column._basepos, column._count)), dtype=np.uint8)
        codes = np.zeros(documents, dtype=np.uint8)
        codes[: len(raw)] = raw[:documents]
        return _LENGTH_OF_BYTE[codes]
    return np.array([reader.doc_field_length(d, fieldname, 0) or 0 for d in range(documents)], dtype=np.float32)


def _title_positions(reader: Any, documents: int) -> np.ndarray:
    if TITLE_POSITIONS not in reader.schema or not reader.has_column(TITLE_POSITIONS):
        return np.zeros(documents, dtype=np.int32)
    column = reader.column_reader(TITLE_POSITIONS)
    return np.fromiter((column[d] for d in range(documents)), dtype=np.int32, count=documents)


def build(reader: Any, segment_id: str) -> dict[str, Any]:
    """The arrays of one segment, read from its Whoosh segment reader."""
    schema = reader.schema
    documents = reader.doc_count_all()
    fields = [f for f in KERNEL_FIELDS if f in schema]
    scored = [f for f in fields if schema[f].scorable]
    positional = [f for f in fields if _has_positions(schema[f])]
    keys: list[bytes] = []
    starts = [0]
    doc_parts: list[Any] = []
    freq_parts: list[Any] = []
    deltas: list[int] = []
    counts: list[int] = []  # positions per posting (0 in a field without them)
    total = 0
    for fieldname in sorted(fields):
        prefix = fieldname.encode("utf-8") + SEP
        with_positions = fieldname in positional
        for text in reader.lexicon(fieldname):
            n = 0
            for ids, weights, raw in _leaf_postings(_raw_postings(reader, fieldname, text), with_positions):
                doc_parts.append(np.asarray(ids, dtype=np.int32))
                freq_parts.append(np.asarray(weights, dtype=np.float32))
                n += len(ids)
                if raw is None:
                    counts.extend([0] * len(ids))
                    continue
                for codes in _position_deltas(raw):
                    deltas.extend(codes)
                    counts.append(len(codes))
            keys.append(prefix + text)
            total += n
            starts.append(total)
    # Sorted already: fields in name order, each field's lexicon in order, and "\0" below every other byte.
    blob = b"".join(keys)
    positions, pos_starts = _positions(deltas, counts)
    return {
        "meta": {
            "format": FORMAT,
            "segment": segment_id,
            "documents": documents,
            "fields": fields,
            "scored": scored,
            "positional": positional,
            "field_totals": {f: reader.field_length(f) for f in scored},
        },
        "keys": np.frombuffer(blob, dtype=np.uint8) if blob else np.zeros(0, dtype=np.uint8),
        "ends": np.fromiter(accumulate(len(k) for k in keys), dtype=np.int64, count=len(keys)),
        "starts": np.array(starts, dtype=np.int64),
        "docs": np.concatenate(doc_parts) if doc_parts else np.zeros(0, dtype=np.int32),
        "freqs": _narrowest(np.concatenate(freq_parts), np.float32) if freq_parts else np.zeros(0, dtype=np.float32),
        "pos_starts": pos_starts,
        "positions": positions,
        "title_positions": _title_positions(reader, documents),
        "lengths": np.stack([_lengths(reader, f, documents) for f in scored])
        if scored
        else np.zeros((0, documents), dtype=np.float32),
    }


def _write(folder: Path, arrays: dict[str, Any]) -> None:
    """Written to a temporary folder, synced, then renamed into place: a reader sees all the files or none, and
    after a power cut the folder holds the whole files or is absent (unsynced, a file could come back as zeros
    behind a valid meta.json, and the kernel would answer from them)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name in _FILES:
            np.save(tmp / f"{name}.npy", arrays[name], allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(arrays["meta"]))
        sync_folder(tmp)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        sync_folder(folder.parent)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "meta.json").exists():  # not written by a concurrent builder either
            raise


def _from_arrays(arrays: dict[str, Any]) -> SegmentPostings:
    meta = arrays["meta"]
    return SegmentPostings(
        segment_id=meta["segment"],
        documents=meta["documents"],
        scored=tuple(meta["scored"]),
        field_totals=dict(meta["field_totals"]),
        keys=_Keys(arrays["keys"], arrays["ends"]),
        starts=arrays["starts"],
        docs=arrays["docs"],
        freqs=arrays["freqs"],
        positional=tuple(meta["positional"]),
        pos_starts=arrays["pos_starts"],
        positions=arrays["positions"],
        title_positions=arrays["title_positions"],
        lengths=arrays["lengths"],
    )


def _read(folder: Path, segment_id: str, documents: int) -> SegmentPostings | None:
    """The segment's files memory-mapped, or None when missing, unreadable or stale."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if (
            meta.get("format") != FORMAT
            or meta.get("segment") != segment_id
            or meta.get("documents") != documents
            or tuple(meta.get("fields", ())) != tuple(KERNEL_FIELDS)
        ):
            return None
        arrays: dict[str, Any] = {"meta": meta}
        for name in _FILES:
            # A plain array over the mapping: numpy's memmap subclass costs microseconds on every slice.
            arrays[name] = np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))
    except (OSError, ValueError):
        return None
    return _from_arrays(arrays)


def load(storage_folder: str | Path, segment: Any, reader: Any, build_missing: bool = True) -> SegmentPostings | None:
    """The derived postings of `segment` (whose segment reader is `reader`): memory-mapped from its files; when
    they are missing or stale, rebuilt (and written, when the folder is writable), or None if not
    `build_missing`. Building reads every posting list of the segment: a request never does it (the search
    service builds them in the background, answering by the Whoosh path meanwhile)."""
    segment_id = segment.segment_id()
    folder = folder_of(storage_folder, segment_id)
    found = _read(folder, segment_id, reader.doc_count_all())
    if found is not None or not build_missing:
        return found
    with _one_builder(folder):
        found = _read(folder, segment_id, reader.doc_count_all())  # another process's build, waited for
        if found is not None:
            return found
        remove_stale_temps(storage_folder)
        arrays = build(reader, segment_id)
        try:
            _write(folder, arrays)
        except OSError as exc:
            log.warning("cannot write the kernel's postings of segment %s: %s", segment_id, exc)
            return _from_arrays(arrays)
    return _read(folder, segment_id, reader.doc_count_all()) or _from_arrays(arrays)


def _lock_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock"


@contextlib.contextmanager
def _one_builder(folder: Path) -> Iterator[None]:
    """Held while a segment's files are built: each gunicorn worker (and the indexer) that finds them missing
    would otherwise build its own copy at once (at 521k articles, ~100 s and ~1 GB of arrays each); the others
    wait, then read the files the first wrote. Without a writable folder, no lock (each builds in memory)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(_lock_path(folder), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_stale_temps(storage_folder: str | Path) -> None:
    """Remove the temporary folders of writes that died (a crash between mkdtemp and the rename). One that
    nothing touched for STALE_TEMP_SECONDS is stale: a live writer adds a file to it every few seconds at most,
    and another process (a gunicorn worker, the indexer) may be writing one right now."""
    root = Path(storage_folder) / FOLDER
    if not root.is_dir():
        return
    cutoff = time.time() - STALE_TEMP_SECONDS
    for entry in root.iterdir():
        try:
            stale = entry.name.startswith(".") and entry.is_dir() and entry.stat().st_mtime < cutoff
        except OSError:  # removed meanwhile
            continue
        if stale:
            log.info("removing %s, left by a write of the kernel's postings that did not finish", entry)
            shutil.rmtree(entry, ignore_errors=True)


def write_missing(storage: Any, indexname: str) -> None:
    """After a commit: write the derived postings of each segment of the index's latest commit that lacks them,
    and remove those of segments no longer in it (merged away)."""
    folder = Path(storage.folder)
    toc = FileIndex(storage, indexname=indexname)._read_toc()  # Whoosh-Reloaded's TOC (pinned)
    keep = set()
    for segment in toc.segments:
        segment_id = segment.segment_id()
        keep.add(segment_id)
        if _read(folder_of(folder, segment_id), segment_id, segment.doc_count_all()) is not None:
            continue
        reader = SegmentReader(storage, toc.schema, segment, generation=toc.generation)
        try:
            load(folder, segment, reader)
        finally:
            reader.close()
    root = folder / FOLDER
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name not in keep and not entry.name.startswith("."):  # "."+id: another writer's, or stale
                shutil.rmtree(entry, ignore_errors=True)
                _lock_path(entry).unlink(missing_ok=True)
    remove_stale_temps(folder)


def size_bytes(storage_folder: str | Path) -> int:
    """Bytes of derived files in an index generation."""
    root = Path(storage_folder) / FOLDER
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0
