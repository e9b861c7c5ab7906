"""The on-disk layout of an index directory: which generation is live, how a new one is swapped in, who may write.

    index/
      searchsvc.json   marker and pointer: format, schema version, the live generation, build time
      gen-<stamp>/     one complete Whoosh index per generation
      write.lock       held by the one process that writes (CLI indexer or the HTTP task writer)

A rebuild writes a new generation beside the live one and replaces the marker atomically (os.replace), so a
reader or a crash never sees a half-built index. The service opens only directories carrying this marker: a
Whoosh index stores a pickled schema, and unpickling a foreign file can run arbitrary code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock
from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage

from searchsvc.index.schema import SCHEMA_VERSION, build_schema

MARKER = "searchsvc.json"
FORMAT = "searchsvc-index"
LOCK = "write.lock"
T = TypeVar("T")
IGNORED_ENTRIES = {".gitkeep", LOCK, "tasks.sqlite", "tasks.sqlite-wal", "tasks.sqlite-shm", ".DS_Store"}


# The names create_generation gives: nothing else is opened as a generation.
_GENERATION = re.compile(r"gen-[0-9A-Za-z-]{1,80}", re.ASCII)


def _ours(name: str) -> bool:
    """Entries searchsvc leaves in an index directory before the first marker (an interrupted first build)."""
    return name in IGNORED_ENTRIES or name.startswith(("gen-", f".{MARKER}"))


class IndexStoreError(Exception):
    """The index directory is missing, foreign, from another schema version, or unreadable."""


def open_whoosh(path: Path) -> whoosh_index.Index:
    """A Whoosh index opened without mmap. Whoosh reads a segment's compound file through an mmap, but wraps
    each part in a BytesIO, which copies it: every searcher (one per thread, per worker) held a private copy of
    the postings, 1.6 GB for two searchers on the 104k-article benchmark index, against 40 MB with plain file
    reads, which were no slower there (bench: `make bench`)."""
    return FileStorage(str(path), supports_mmap=False).open_index()


VANISHED_TRIES = 10  # reads of a commit retried when a newer commit removed the file they listed
_VANISHED_PAUSE = 0.01


def _retrying(read: Callable[[], T]) -> T:
    """`read()`, retried while a file it listed vanished. Whoosh lists the TOC files, then opens the latest; a
    commit in between writes a newer TOC and deletes that one, so the read fails with FileNotFoundError, and
    reading again (listing again) finds the newer commit. Whoosh's own reader() retries the same way."""
    for _ in range(VANISHED_TRIES - 1):
        try:
            return read()
        except FileNotFoundError:
            time.sleep(_VANISHED_PAUSE)
    return read()


def read_toc(ix: whoosh_index.FileIndex) -> Any:
    """The index's latest commit (Whoosh-Reloaded's TOC, pinned: schema, segments, generation), read once and
    consistently: what a reader holds instead of asking `ix.schema`, which reads the TOC file again each time."""
    return _retrying(ix._read_toc)


def _fsync(path: Path, *, folder: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(path: Path) -> None:
    """fsync every file in `path` (not recursively), then the folder itself: its entries and renames."""
    with os.scandir(path) as entries:
        files = sorted(e.path for e in entries if e.is_file(follow_symlinks=False))
    for file in files:
        try:
            _fsync(Path(file))
        except FileNotFoundError:  # a lock file Whoosh removed meanwhile
            continue
    _fsync(path, folder=True)


@dataclass(frozen=True)
class IndexStatus:
    """What an operator asks of the live index: read from its files, without opening a searcher."""

    generation: str
    built_at: float  # when the generation was published (a rebuild) or last touched (an update)
    last_commit_at: float  # when Whoosh last committed to it (its table of contents was written)
    documents: int
    segments: int
    size_bytes: int  # the generation's files on disk


@dataclass(frozen=True)
class Marker:
    generation: str
    built_at: float
    schema_version: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": self.schema_version,
            "generation": self.generation,
            "built_at": self.built_at,
        }


class IndexStore:
    """One index directory. Cheap to create; opens nothing until asked."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- reading -----------------------------------------------------------------------------------
    def read_marker(self, any_version: bool = False) -> Marker | None:
        """The live generation, or None when no index was built here yet. Raises on a foreign directory, and on
        an index of another schema version unless `any_version` (a rebuild reads and replaces it)."""
        marker_path = self.root / MARKER
        if not marker_path.exists():
            if self.root.is_dir() and any(not _ours(p.name) for p in self.root.iterdir()):
                raise IndexStoreError(
                    f"{self.root} holds files but no {MARKER}: it was not created by searchsvc, so it will not be "
                    "opened (Whoosh indexes contain pickled data). Point SEARCHSVC_INDEX_DIR to an empty or "
                    "searchsvc-built directory."
                )
            return None
        try:
            data = json.loads(marker_path.read_text("utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError("wrong format")
            marker = Marker(str(data["generation"]), float(data["built_at"]), int(data["schema_version"]))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise IndexStoreError(f"{marker_path} is not a searchsvc index marker ({exc})") from None
        if marker.schema_version != SCHEMA_VERSION and not any_version:
            raise IndexStoreError(
                f"{self.root} was built with schema version {marker.schema_version}, this searchsvc needs "
                f"{SCHEMA_VERSION}: run `searchsvc index`, which rebuilds it."
            )
        if not _GENERATION.fullmatch(marker.generation):
            # ".", "..", a path: opening it would unpickle whatever Whoosh index it points to
            raise IndexStoreError(f"{marker_path} names {marker.generation!r}, which is not a generation's name")
        if not (self.root / marker.generation).is_dir():
            raise IndexStoreError(f"{self.root}: generation {marker.generation!r} named by {MARKER} is missing")
        return marker

    def exists(self) -> bool:
        return self.read_marker() is not None

    def outdated(self) -> bool:
        """True when the live index was built with another schema version (it must be rebuilt)."""
        marker = self.read_marker(any_version=True)
        return marker is not None and marker.schema_version != SCHEMA_VERSION

    def open(self, any_version: bool = False) -> tuple[whoosh_index.Index, Marker]:
        """The live Whoosh index and its marker (`any_version`: see read_marker)."""
        marker = self.read_marker(any_version)
        if marker is None:
            raise IndexStoreError(f"no index in {self.root}: build one with `searchsvc index`")
        try:
            return _retrying(lambda: open_whoosh(self.root / marker.generation)), marker
        except Exception as exc:  # Whoosh raises many kinds on a damaged directory.
            raise IndexStoreError(f"cannot open the index in {self.root}: {type(exc).__name__}: {exc}") from None

    def status(self) -> IndexStatus | None:
        """The live generation's status, or None when no index was built yet (raises IndexStoreError)."""
        ix, marker = self.open()
        try:
            toc = read_toc(ix)  # segments with their deletions
        except Exception as exc:
            raise IndexStoreError(f"cannot read the index in {self.root}: {type(exc).__name__}: {exc}") from None
        finally:
            ix.close()
        path = self.root / marker.generation
        size = 0
        for entry in os.scandir(path):
            try:
                size += entry.stat().st_size if entry.is_file() else 0
            except FileNotFoundError:  # a merge removed it meanwhile
                continue
        try:
            committed = (path / f"_MAIN_{toc.generation}.toc").stat().st_mtime
        except OSError:
            committed = marker.built_at
        return IndexStatus(
            generation=marker.generation,
            built_at=marker.built_at,
            last_commit_at=committed,
            documents=sum(segment.doc_count() for segment in toc.segments),
            segments=len(toc.segments),
            size_bytes=size,
        )

    # -- writing -----------------------------------------------------------------------------------
    def write_lock(self, timeout: float = -1) -> FileLock:
        """The lock every writer of this directory holds (CLI indexer and HTTP task writer alike)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / LOCK), timeout=timeout)

    def create_generation(self) -> tuple[whoosh_index.Index, str]:
        """A new, empty Whoosh index beside the live one; not visible until `publish`."""
        self.read_marker(any_version=True)  # refuse foreign directories before writing into them
        name = time.strftime("gen-%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
        path = self.root / name
        path.mkdir(parents=True)
        return FileStorage(str(path), supports_mmap=False).create_index(build_schema()), name

    def publish(self, generation: str) -> Marker:
        """Make `generation` the live one (atomic and durable), then remove generations older than the previous
        live one. Whoosh syncs nothing: its segment files and its table of contents (written, then renamed)
        are synced here, with their folder, before the marker names the generation, and the index folder after
        the marker is replaced; so when this returns (and a task is marked done) a power cut loses nothing."""
        # First publish: the new gen-* folder is the only entry, which read_marker would call foreign.
        previous = self.read_marker(any_version=True) if (self.root / MARKER).exists() else None
        # Every file, not only those the last commit wrote: an fsync of a file already synced costs ~0.2 ms, and
        # syncing only the changed ones (by mtime) measured 33 ms a publish against 35 ms (median of 20 each,
        # one-document commits, 9-13 files; the rest is the new segment, TOC, marker and folder, which must be
        # synced): not worth a rule that could miss a file.
        sync_folder(self.root / generation)
        marker = Marker(generation, time.time(), SCHEMA_VERSION)
        tmp = self.root / f".{MARKER}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(marker.to_json(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / MARKER)
        _fsync(self.root, folder=True)  # the rename itself, and the new generation's entry
        keep = {generation, previous.generation if previous else ""}
        self.remove_generations(keep)
        return marker

    def touch(self) -> Marker:
        """Record that the live generation changed in place (an incremental update)."""
        marker = self.read_marker()
        if marker is None:
            raise IndexStoreError(f"no index in {self.root}")
        return self.publish(marker.generation)

    def remove_generations(self, keep: set[str]) -> None:
        """Delete generation folders not in `keep` (abandoned builds included). Readers of an older generation
        keep working on open files; the previous live one is kept for requests still running on it."""
        for p in self.root.glob("gen-*"):
            if p.name not in keep and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
