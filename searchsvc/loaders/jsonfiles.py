"""JSON (one object, or an array of objects) and JSON Lines (one object per line) files."""

from __future__ import annotations

import json
from collections.abc import Iterator

from searchsvc.documents import LoadError, LoadItem, LoadWarning, json_type_name
from searchsvc.loaders import build


def parse_json(text: str, *, name: str, default_id: str) -> Iterator[LoadItem]:
    """A lone object may omit its id (the file's id is used); items of an array, named `file[i]`, may not."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (several JSON values: use .jsonl for one object per line)" if exc.msg == "Extra data" else ""
        yield LoadError(name, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}")
        return
    except RecursionError:
        yield LoadError(name, "invalid JSON: nested too deeply")
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


def parse_jsonl(text: str, *, name: str, default_id: str) -> Iterator[LoadItem]:
    """One object per line, each with its own id; a bad line (`file:LINE`) does not stop the others."""
    # split on "\n" only: U+2028 and friends may appear inside JSON strings
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        line_name = f"{name}:{lineno}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield LoadError(line_name, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:
            yield LoadError(line_name, "invalid JSON: nested too deeply")
            continue
        if isinstance(item, dict):
            yield build(item, name=line_name, default_id=None)
        else:
            yield LoadError(line_name, f"expected an object, got {json_type_name(item)}")
