"""Per-format parsers behind `searchsvc.documents.load_path`: reading, decoding and sidecar metadata.

Each parser takes decoded text and yields Documents, LoadErrors and LoadWarnings; nothing here raises for
bad content. Use `searchsvc.documents` for the public API.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from searchsvc.documents.html import parse_html
from searchsvc.documents.json_files import loads, parse_json, stream_jsonl
from searchsvc.documents.markdown import parse_markdown
from searchsvc.documents.model import (
    BODY_KEYS,
    SIDECAR_SUFFIX,
    SUPPORTED_SUFFIXES,
    LoadError,
    LoadItem,
    LoadWarning,
    binary_error,
)
from searchsvc.documents.text import parse_text
from searchsvc.text_rules import first_control

# A file where more than this share of the decoded characters (and at least _MIN_REPLACED of them) are
# replacements is not text at all; a short Latin-1 file ("Caf\xe9") still loads with a warning.
_MAX_REPLACED_SHARE = 0.2
_MIN_REPLACED = 32
_DECLARED_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def read_bytes(path: Path, name: str, max_bytes: int) -> bytes | LoadError:
    """The file's bytes, or a LoadError for unreadable, empty or over-`max_bytes` files."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except IsADirectoryError:
        return LoadError(name, "is a folder, not a file")
    except OSError as exc:
        return LoadError(name, f"cannot read: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return LoadError(name, f"file is larger than max_bytes ({max_bytes} bytes); skipped")
    if not data:
        return LoadError(name, "empty file")
    return data


def decode(data: bytes, name: str, *, html: bool = False) -> tuple[str | None, list[LoadError | LoadWarning]]:
    """Text of a file, decoded as UTF-8 (or UTF-16 with a BOM or NULs that show it, or an HTML page's declared
    charset).

    Invalid bytes are replaced with U+FFFD and reported as a LoadWarning; files with NUL bytes or mostly
    undecodable bytes are binary (LoadError, text None). Newlines are normalised to "\\n".
    """
    encoding = "UTF-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "UTF-16"
        text, bad = _decode_with(data, "utf-16")
    elif (unmarked := _utf16_without_bom(data)) is not None:
        text, bad = unmarked, ()
    elif (binary := binary_error(data, name)) is not None:
        return None, [binary]
    else:
        text, bad = _decode_with(data, "utf-8-sig")
        if bad and html:
            declared = _DECLARED_CHARSET.search(data[:4096])
            if declared:
                try:
                    text, bad = data.decode(declared.group(1).decode("ascii")), ()
                except (LookupError, UnicodeDecodeError):
                    pass
    problems: list[LoadError | LoadWarning] = []
    if bad:
        first, count = bad
        if count >= _MIN_REPLACED and count > _MAX_REPLACED_SHARE * len(text):
            return None, [LoadError(name, f"not a text file ({count} of {len(text)} characters undecodable)")]
        places = "1 place" if count == 1 else f"{count} places"
        reason = f"invalid {encoding} at byte {first}, replaced with U+FFFD ({places})"
        problems.append(LoadWarning(name, reason))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        problems.append(LoadError(name, "file contains only whitespace"))
        return None, problems
    return text, problems


def _utf16_without_bom(data: bytes) -> str | None:
    """The text of UTF-16 written without a byte order mark (some Windows and Java tools), else None.

    Told by its NULs: the zero high bytes of Latin characters all fall on one side of the code units (odd
    offsets: little-endian), in at least a quarter of them; and it must decode strictly to text without
    control characters, which a binary file's bytes do not."""
    if len(data) % 2 or b"\0" not in data:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if (even and odd) or 4 * (even + odd) < len(data) // 2:
        return None
    try:
        text = data.decode("utf-16-le" if odd else "utf-16-be")
    except UnicodeDecodeError:
        return None
    return None if first_control(text) else text


def _decode_with(data: bytes, encoding: str) -> tuple[str, tuple[int, int] | tuple[()]]:
    """Decode strictly if possible; else with replacement, returning (first bad byte offset, replacements)."""
    try:
        return data.decode(encoding), ()
    except UnicodeDecodeError as exc:
        text = data.decode(encoding, errors="replace")
        genuine = data.count("\ufffd".encode()) if encoding == "utf-8-sig" else 0
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0  # utf-8-sig counts after it
        return text, (exc.start + bom, max(1, text.count("\ufffd") - genuine))


def load_sidecar(path: Path, max_bytes: int) -> tuple[dict[str, Any] | None, list[LoadError | LoadWarning]]:
    """Metadata from `NAME.meta.json` beside `NAME.ext` (None when absent); its body keys are ignored."""
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
    try:
        present = sidecar.is_file()
    except OSError:  # "File name too long" for a file whose name is long enough: it cannot have a sidecar
        present = False
    if not present:
        return None, []
    name = str(sidecar)
    if sidecar.is_symlink() and not sidecar.resolve().is_relative_to(path.parent.resolve()):
        # the same rule as for documents: a link must not publish a file from elsewhere (its keys are indexed)
        return None, [LoadError(name, "symbolic link to a file outside the document's folder: not followed")]
    data = read_bytes(sidecar, name, max_bytes)
    if isinstance(data, LoadError):
        return None, [data]
    text, problems = decode(data, name)
    if text is None:
        return None, problems
    try:
        meta = loads(text)
    except (ValueError, RecursionError) as exc:  # raised outside any parser's guard: it ended the whole run
        return None, [*problems, LoadError(name, f"invalid JSON: {exc}")]
    if not isinstance(meta, dict):
        return None, [*problems, LoadError(name, "metadata sidecar must be a JSON object")]
    return {k: v for k, v in meta.items() if k not in BODY_KEYS}, problems


Parser = Callable[..., Iterator[LoadItem]]


def _parser(suffix: str) -> Parser | None:
    return _PARSERS.get(suffix)


_PARSERS: dict[str, Parser] = {
    ".txt": parse_text,
    ".json": parse_json,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
}


# Formats read a line at a time, whatever the file's size (JSON Lines exports run to gigabytes).
_STREAMED = (".jsonl", ".ndjson")
# Formats holding one document each, which may have a NAME.meta.json sidecar.
_SINGLE_DOCUMENT = (".txt", ".md", ".markdown", ".html", ".htm")


def load_file(
    path: Path,
    *,
    name: str,
    default_id: str,
    max_bytes: int,
    max_document_bytes: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[LoadItem]:
    """Read, decode and parse one file; see `searchsvc.documents.load_path`."""
    if path.is_dir():
        yield LoadError(name, "is a folder, not a file (iter_documents walks folders)")
        return
    suffix = path.suffix.lower()
    parser = _parser(suffix)
    if (parser is None and suffix not in _STREAMED) or path.name.lower().endswith(SIDECAR_SUFFIX):
        yield LoadError(name, f"unsupported file type; supported: {' '.join(SUPPORTED_SUFFIXES)}")
        return
    if suffix in _STREAMED:
        lines = stream_jsonl(path, name=name, max_line_bytes=max_document_bytes or max_bytes, on_bytes=on_bytes)
        yield from _guarded(lines, name)
        return
    data = read_bytes(path, name, max_bytes)
    if on_bytes is not None:
        on_bytes(len(data) if isinstance(data, bytes) else 0)
    if isinstance(data, LoadError):
        yield data
        return
    text, problems = decode(data, name, html=suffix in (".html", ".htm"))
    yield from problems
    if text is None:
        return
    assert parser is not None
    if suffix not in _SINGLE_DOCUMENT:
        yield from _guarded(parser(text, name=name, default_id=default_id), name)
        return
    meta, sidecar_problems = load_sidecar(path, max_bytes)
    if any(isinstance(problem, LoadError) for problem in sidecar_problems):
        # loading without the metadata the user gave would index wrong ids or dates
        for problem in sidecar_problems:
            if isinstance(problem, LoadError):
                problem = LoadError(problem.name, f"{problem.reason}; {name} not loaded")
            yield problem
        return
    yield from sidecar_problems
    yield from _guarded(parser(text, name=name, default_id=default_id, meta=meta or {}), name)


def _guarded(items: Iterator[LoadItem], name: str) -> Iterator[LoadItem]:
    """A parser's items; whatever it raises (a RecursionError deep in a third-party parser, say) is this
    file's LoadError, never the run's: the other files are indexed."""
    try:
        yield from items
    except Exception as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
        yield LoadError(name, f"cannot parse: {' '.join(detail.split())[:300]}")
