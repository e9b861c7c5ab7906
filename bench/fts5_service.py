"""The peer a user would pick instead of searchsvc: a minimal Flask + SQLite FTS5 search service over the same
JSON Lines articles (id, title, body, published), for `make bench` to measure side by side.

    python -m bench.fts5_service build SOURCE_DIR DB     -> prints {"documents", "seconds", "size_mb"}
    FTS5_DB=DB gunicorn -k gthread ... 'bench.fts5_service:create_app()'

What a careful user would write in an afternoon, no more: one FTS5 table (title and body, Porter stemming like
searchsvc's analyzer), bm25() ranking with the title weighted 2 to 1, `highlight()` of the title and a
`snippet()` of the body with matches in <mark> and the rest HTML-escaped (as searchsvc's highlights), `total`
exact up to 1,000 and "gte" beyond (searchsvc's SEARCHSVC_COUNT_BOUND), top 10. One read-only connection per
thread, memory-mapped so that workers share the page cache. No result cache (the bench runs searchsvc with its
cache off too).

The query syntax maps honestly onto searchsvc's for what the bench's HTTP mix sends: words (all of them must
match, as FTS5 reads adjacent terms), `a OR b`, `a AND b`, `NOT`, `"a phrase"`, and `prefix*`; a phrase with
slop (`"a b"~3`) has no FTS5 equivalent (NEAR is unordered), so it is refused with 400 like other syntax.
"""

from __future__ import annotations

import html
import json
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

COUNT_BOUND = 1000
TITLE_WEIGHT = 2.0
BODY_WEIGHT = 1.0
# Markers FTS5 puts around matches; unlikely in text, replaced by <mark> after escaping the rest.
_OPEN, _CLOSE, _ELLIPSIS = "\x02", "\x03", "\x04"
_TOKEN = re.compile(r'"([^"]*)"(~\d+)?|\(|\)|[^\s"()]+')
_OPERATORS = {"OR", "AND", "NOT"}


class QuerySyntaxError(ValueError):
    """A query the FTS5 mapping cannot express (answered with 400)."""


def to_match(q: str) -> str:
    """searchsvc's query syntax (the part the bench sends) -> an FTS5 MATCH expression. Each word is quoted (so
    punctuation inside it is tokenised as FTS5's tokenizer reads it, never parsed as syntax); `OR`, `AND`,
    `NOT` and parentheses pass through; `"a b"` stays a phrase; `word*` becomes the prefix query `"word" *`."""
    out: list[str] = []
    for m in _TOKEN.finditer(q):
        token = m.group(0)
        if m.group(1) is not None:
            if m.group(2):
                raise QuerySyntaxError(f"phrase slop {m.group(2)!r} has no FTS5 equivalent")
            words = m.group(1).split()
            if words:
                out.append(_quote(" ".join(words)))
        elif token in _OPERATORS or token in ("(", ")"):
            out.append(token)
        elif token.endswith("*") and len(token) > 1:
            out.append(_quote(token.rstrip("*")) + " *")
        else:
            out.append(_quote(token))
    if not out or all(t in _OPERATORS or t in ("(", ")") for t in out):
        raise QuerySyntaxError("no words to search for")
    return " ".join(out)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def marked(fragment: str | None) -> str:
    """FTS5's marked text -> HTML: the text escaped, the matches in <mark>."""
    if not fragment:
        return ""
    escaped = html.escape(fragment, quote=False)
    return escaped.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>").replace(_ELLIPSIS, "…")


# -- building --------------------------------------------------------------------------------------------------
def read_jsonl(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def build(source: Path, db: Path) -> dict[str, Any]:
    """A fresh FTS5 database at `db` holding every article of `source`."""
    db.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, published UNINDEXED, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        n = 0
        with conn:
            for doc in read_jsonl(source):
                conn.execute(
                    "INSERT INTO docs (id, title, body, published) VALUES (?, ?, ?, ?)",
                    (doc["id"], doc["title"], doc["body"], (doc.get("published") or "")[:10] or None),
                )
                n += 1
        with conn:
            conn.execute("INSERT INTO docs (docs) VALUES ('optimize')")
    finally:
        conn.close()
    return {
        "documents": n,
        "seconds": round(time.perf_counter() - started, 2),
        "size_mb": round(db.stat().st_size / 1e6, 2),
    }


# -- searching -------------------------------------------------------------------------------------------------
_SEARCH = f"""
SELECT id, title, published, bm25(docs, 0, {TITLE_WEIGHT}, {BODY_WEIGHT}, 0) AS score{{marks}}
FROM docs WHERE docs MATCH ? ORDER BY score LIMIT ? OFFSET ?
"""
_MARKS = f", highlight(docs, 1, '{_OPEN}', '{_CLOSE}'), snippet(docs, 2, '{_OPEN}', '{_CLOSE}', '{_ELLIPSIS}', 24)"
_COUNT = f"SELECT count(*) FROM (SELECT 1 FROM docs WHERE docs MATCH ? LIMIT {COUNT_BOUND + 1})"


class Searcher:
    """One read-only connection per thread over the FTS5 database."""

    def __init__(self, db: Path) -> None:
        if not db.exists():
            raise FileNotFoundError(db)
        self.db = db
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA mmap_size = 1073741824")  # share the file through the page cache
            self._local.conn = conn
        return conn

    def search(self, q: str, limit: int = 10, offset: int = 0, highlight: bool = True) -> dict[str, Any]:
        match = to_match(q)
        conn = self._conn()
        try:
            total = conn.execute(_COUNT, (match,)).fetchone()[0]
            rows = conn.execute(_SEARCH.format(marks=_MARKS if highlight else ""), (match, limit, offset)).fetchall()
        except sqlite3.OperationalError as exc:  # an FTS5 syntax error
            raise QuerySyntaxError(str(exc)) from None
        hits = []
        for row in rows:
            hit: dict[str, Any] = {"id": row[0], "title": row[1], "published": row[2], "score": round(-row[3], 4)}
            if highlight:
                hit["highlights"] = {"title": [marked(row[4])], "body": [marked(row[5])] if row[5] else []}
            hits.append(hit)
        return {
            "total": min(total, COUNT_BOUND),
            "total_relation": "gte" if total > COUNT_BOUND else "eq",
            "hits": hits,
        }


def create_app(db: str | None = None) -> Any:
    """The Flask app: GET /search?q=&limit=&offset=&highlight=, GET /ready."""
    from flask import Flask, jsonify, request

    searcher = Searcher(Path(db or os.environ["FTS5_DB"]))
    app = Flask(__name__)
    app.extensions["fts5"] = searcher

    @app.get("/ready")
    def ready() -> Any:
        return jsonify(status="ok")

    @app.get("/search")
    def search() -> Any:
        args = request.args
        try:
            limit = min(max(int(args.get("limit", 10)), 1), 100)
            offset = min(max(int(args.get("offset", 0)), 0), 10_000)
            highlight = args.get("highlight", "true").lower() == "true"
            return jsonify(app.extensions["fts5"].search(args.get("q", ""), limit, offset, highlight))
        except (QuerySyntaxError, ValueError) as exc:
            return jsonify(error={"code": "invalid_query", "message": str(exc)}), 400

    return app


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != "build":
        raise SystemExit("usage: python -m bench.fts5_service build SOURCE_DIR DB")
    print(json.dumps(build(Path(args[1]), Path(args[2]))))


if __name__ == "__main__":
    main()
