"""JSON (one object, or an array of objects) and JSON Lines (one object per line) files."""

from __future__ import annotations

import codecs
import itertools
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from searchsvc.documents.model import LoadError, LoadItem, LoadWarning, binary_error, build, json_type_name


def _not_a_number(value: str) -> Any:
    raise ValueError(f"{value} is not a JSON number")


def _finite(value: str) -> float:
    number = float(value)
    if math.isinf(number):
        raise ValueError(f"number {value[:40]} is out of range")
    return number


def loads(text: str) -> Any:
    """json.loads, refusing NaN, Infinity and numbers that overflow a float as the HTTP API's parser (orjson)
    does, so that a document reads the same from a file as over HTTP. Raises ValueError for any invalid JSON:
    a JSONDecodeError, or a plain ValueError for those numbers and for an integer of over 4,300 digits
    (Python's limit); RecursionError when nested too deeply."""
    return json.loads(text, parse_constant=_not_a_number, parse_float=_finite)


def _loaded(text: str, name: str, *, line: bool = False) -> Any:
    """The JSON value of `text` (a whole file, or one `line` of JSON Lines), or the LoadError saying why not. A
    plain ValueError (an overflowing number) must be caught too: in a generator it ended the file's later lines."""
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        if line:
            return LoadError(name, f"invalid JSON: {exc.msg} at column {exc.colno}")
        hint = " (several JSON values: use .jsonl for one object per line)" if exc.msg == "Extra data" else ""
        return LoadError(name, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}")
    except ValueError as exc:
        return LoadError(name, f"invalid JSON: {exc}")
    except RecursionError:
        return LoadError(name, "invalid JSON: nested too deeply")


def parse_json(text: str, *, name: str, default_id: str) -> Iterator[LoadItem]:
    """A lone object may omit its id (the file's id is used); items of an array, named `file[i]`, may not."""
    data = _loaded(text, name)
    if isinstance(data, LoadError):
        yield data
        return
    if isinstance(data, dict):
        yield build(data, name=name, default_id=default_id)
    elif isinstance(data, list):
        if not data:
            yield LoadWarning(name, "empty JSON array: no documents")
        for index, item in enumerate(data):
            item_name = f"{name}[{index}]"
            if isinstance(item, dict):
                yield build(item, name=item_name, default_id=None)
            else:
                yield LoadError(item_name, f"expected an object, got {json_type_name(item)}")
    else:
        yield LoadError(name, f"expected a JSON object or an array of objects, got {json_type_name(data)}")


_READ = 1 << 20  # bytes: the piece in which an over-long line is skipped


def stream_jsonl(
    path: Path, *, name: str, max_line_bytes: int, on_bytes: Callable[[int], None] | None = None
) -> Iterator[LoadItem]:
    """A JSON Lines file read one line at a time, so memory holds one document whatever the file's size.

    A line over `max_line_bytes` is skipped (and reported as `file:LINE`) without being held in memory. Lines
    are UTF-8 (JSON Lines' encoding); invalid bytes are replaced with U+FFFD and reported as a LoadWarning."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; a generator cannot use `with` across yields)
    except IsADirectoryError:
        yield LoadError(name, "is a folder, not a file")
        return
    except OSError as exc:
        yield LoadError(name, f"cannot read: {exc.strerror or exc}")
        return
    with handle:
        read = 0
        blank = True
        for lineno in itertools.count(1):
            try:
                line = handle.readline(max_line_bytes + 1)
            except OSError as exc:
                yield LoadError(name, f"cannot read: {exc.strerror or exc}")
                return
            if not line:
                break
            read += len(line)
            if on_bytes is not None:
                on_bytes(len(line))
            if lineno == 1:
                if line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    yield LoadError(name, "JSON Lines must be UTF-8 (this file is UTF-16)")
                    return
                line = line.removeprefix(codecs.BOM_UTF8)
                # a compressed export or UTF-16 without a BOM: every "line" of it was its own error, without end
                if (binary := binary_error(line, name)) is not None:
                    yield LoadError(name, f"{binary.reason}; JSON Lines must be UTF-8 text")
                    return
            line_name = f"{name}:{lineno}"
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                skipped = len(line) + _skip_line(handle, on_bytes)
                blank = False
                yield LoadError(
                    line_name, f"line of {skipped} bytes is larger than max_document_bytes ({max_line_bytes}); skipped"
                )
                continue
            line = line.rstrip(b"\r\n")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = line.decode("utf-8", errors="replace")
                yield LoadWarning(line_name, f"invalid UTF-8 at byte {exc.start} of the line, replaced with U+FFFD")
            if not text.strip():
                continue
            blank = False
            yield from _parse_line(text, line_name)
        if not read:
            yield LoadError(name, "empty file")
        elif blank:
            yield LoadError(name, "file contains only whitespace")


def _skip_line(handle: Any, on_bytes: Callable[[int], None] | None) -> int:
    """Read past the rest of the current line without keeping it; returns the bytes skipped."""
    skipped = 0
    while True:
        piece = handle.readline(_READ)
        skipped += len(piece)
        if on_bytes is not None:
            on_bytes(len(piece))
        if not piece or piece.endswith(b"\n"):
            return skipped


def _parse_line(line: str, line_name: str) -> Iterator[LoadItem]:
    item = _loaded(line, line_name, line=True)
    if isinstance(item, LoadError):
        yield item
    elif isinstance(item, dict):
        yield build(item, name=line_name, default_id=None)
    else:
        yield LoadError(line_name, f"expected an object, got {json_type_name(item)}")
