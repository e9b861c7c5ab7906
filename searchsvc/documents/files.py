"""Files and folders -> Documents: the walk (sorted, hidden entries and sidecars skipped), default ids from
paths, duplicate ids, and the input's size for progress. Reading and parsing one file is `reading.py`'s job."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from searchsvc.documents.model import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DOCUMENT_BYTES,
    SIDECAR_SUFFIX,
    SUPPORTED_SUFFIXES,
    Document,
    LoadError,
    LoadItem,
    LoadWarning,
)
from searchsvc.documents.reading import load_file


def _is_sidecar(name: str) -> bool:
    return name.lower().endswith(SIDECAR_SUFFIX)


def _is_supported(name: str) -> bool:
    return not _is_sidecar(name) and os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES


def load_path(
    path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    root: Path | None = None,
    name: str | None = None,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[LoadItem]:
    """Load one file into its documents; bad content is yielded as LoadError, never raised.

    The default id (used when the content does not give one) is the file's stem, or with `root`, the path
    relative to root without its suffix ("sport/199"), so same-named files in different folders stay distinct.
    `name` is how the file is called in errors (default: the path as given). `max_bytes` bounds a file read
    whole; JSON Lines are read a line at a time, each line bounded by `max_document_bytes`. `on_bytes(n)` is
    told of each n bytes read (progress).
    """
    path = Path(path)
    if root is not None and path != Path(root) and path.is_relative_to(root):
        default_id = path.relative_to(root).with_suffix("").as_posix()
    else:  # no root, or the file itself given as root (`searchsvc index some/file.jsonl`)
        default_id = path.stem
    yield from load_file(
        path,
        name=str(path) if name is None else name,
        default_id=default_id,
        max_bytes=max_bytes,
        max_document_bytes=max_document_bytes,
        on_bytes=on_bytes,
    )


def _inside(path: Path, boundary: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(boundary)
    except (OSError, RuntimeError):  # a dangling link, a loop
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """Whether entry is a file or a link to one; a link that resolves to nothing (dangling, or a loop: ELOOP)
    is not, so one broken link is skipped instead of ending the walk and the whole index run."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _walk(folder: Path, boundary: Path | None = None) -> Iterator[Path | LoadError | LoadWarning]:
    """Supported files under folder, sorted by name (files, then sub-folders); hidden entries and sidecars
    are skipped, symlinked folders are not followed (no cycles), and a symlinked file is read only when it
    resolves inside the folder walked (`boundary`): a link must not publish a file from elsewhere.

    Folders wait on a stack, not in recursive calls: folders nested a thousand deep (a path of 2,400 bytes)
    raised RecursionError, which ended the index run."""
    if boundary is None:
        boundary = folder.resolve()
    pending = [folder]  # the next folder to list on top, so the order is a recursive walk's
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            yield LoadError(str(current), f"cannot list folder: {exc.strerror or exc}")
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
            elif _is_supported(entry.name) and _is_file(entry):
                if entry.is_symlink() and not _inside(Path(entry.path), boundary):
                    yield LoadWarning(entry.path, "symbolic link to a file outside the source folder: not followed")
                    continue
                yield Path(entry.path)
        pending.extend(reversed(folders))


def iter_documents(
    paths: Iterable[Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    root: Path | None = None,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[tuple[Path, LoadItem]]:
    """Load files and folders (recursively, in sorted order) as (file, item) pairs.

    Default ids are paths without suffix relative to `root`, or when it is None (or does not contain the
    file) to the folder given, and a file given on its own gets its stem. In folders, files with other
    suffixes, hidden files and folders, and `*.meta.json` sidecars are skipped silently; a file named
    explicitly with an unsupported suffix, or a missing path, is a LoadError. A document whose id was already
    loaded in this run is a LoadError (the first one is kept).
    """
    seen: dict[str, str] = {}
    for given in paths:
        given = Path(given)
        if given.is_dir():
            files: Iterable[Path | LoadError | LoadWarning] = _walk(given)
            base: Path | None = given
        elif given.is_file() or given.is_symlink():
            if _is_sidecar(given.name):
                continue
            if not _is_supported(given.name):
                reason = f"unsupported file type {given.suffix or '(no suffix)'!r}; supported: "
                yield given, LoadError(str(given), reason + " ".join(SUPPORTED_SUFFIXES))
                continue
            files, base = [given], None
        else:
            yield given, LoadError(str(given), "no such file or folder")
            continue
        for file in files:
            if isinstance(file, LoadError | LoadWarning):
                yield Path(file.name), file
                continue
            within = root is not None and file != Path(root) and file.is_relative_to(root)
            items = load_path(
                file,
                max_bytes=max_bytes,
                root=root if within else base,
                max_document_bytes=max_document_bytes,
                on_bytes=on_bytes,
            )
            for item in items:
                if isinstance(item, Document):
                    first = seen.get(item.id)
                    if first is not None:
                        item = LoadError(str(file), f"duplicate id {item.id!r} (first loaded from {first}); skipped")
                    else:
                        seen[item.id] = str(file)
                yield file, item


def size_of_inputs(path: Path) -> int:
    """Bytes in the files `iter_documents` would read under `path` (a file or a folder); reads no file."""
    path = Path(path)
    files: Iterable[Path | LoadError | LoadWarning] = _walk(path) if path.is_dir() else [path]
    total = 0
    for file in files:
        if isinstance(file, Path):
            with contextlib.suppress(OSError):
                total += file.stat().st_size
    return total
