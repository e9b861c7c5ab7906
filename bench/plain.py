"""A plain Whoosh index of the same JSONL text, for comparison: id, title and body only (stored, with
positions, the project's analyzer), no extraction fields, no project code path but the analyzer.

    python -m bench.plain SOURCE_DIR INDEX_DIR    -> prints {"documents", "words", "seconds", "size_mb"}
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.fields import ID, TEXT, Schema

from bench.indexing import file_breakdown
from searchsvc.index.schema import text_analyzer


def plain_schema() -> Schema:
    return Schema(
        id=ID(unique=True, stored=True),
        title=TEXT(analyzer=text_analyzer(), stored=True, phrase=True, field_boost=2.0),
        body=TEXT(analyzer=text_analyzer(), stored=True, phrase=True),
        published=ID(stored=True),
    )


def read_jsonl(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def build(source: Path, target: Path, limitmb: int = 256) -> dict[str, Any]:
    """Index every document of `source` into a fresh plain index at `target` (same writer memory as the
    project's indexer)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    started = time.perf_counter()
    ix = whoosh_index.create_in(str(target), plain_schema())
    writer = ix.writer(limitmb=limitmb)
    docs = words = 0
    for doc in read_jsonl(source):
        writer.add_document(
            id=doc["id"], title=doc["title"], body=doc["body"], published=(doc.get("published") or "")[:10]
        )
        docs += 1
        words += len(doc["title"].split()) + len(doc["body"].split())
    writer.commit()
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return {
        "documents": docs,
        "words": words,
        "seconds": round(seconds, 3),
        "size_mb": round(size / 1e6, 2),
        "segments": len(ix._segments()),
        "files_mb": file_breakdown(ix),
    }


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m bench.plain SOURCE_DIR INDEX_DIR")
    print(json.dumps(build(Path(args[0]), Path(args[1]))))


if __name__ == "__main__":
    main()
