"""Reuters-21578 (22 SGML files, latin-1) -> the project's JSON Lines input, optionally repeated for scale.

Each `<REUTERS NEWID="n">` with a `<TITLE>` becomes one document (20,841 of 21,578; the rest are unprocessed
wire text without a title): id `reuters-n` (copies: `reuters-n-c2`, `-c3`, ...), title, body (`<BODY>`, or
the title for the ~1,800 briefs that have none: the loader needs a body), published from `<DATE>`
("26-FEB-1987 15:01:01.79" -> "1987-02-26T15:01:01.790000"). Text is html-unescaped and its wire control
characters dropped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_ARTICLE = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.S)
_NEWID = re.compile(r'NEWID="(\d+)"')
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
# Wire control characters (&#2; &#3; &#5; ...) survive html.unescape; keep tabs and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A body ends with the wire's " Reuter\n&#3;" signature.
_SIGNATURE = re.compile(r"\s*\bReuter\s*$")


def _tag(block: str, name: str) -> str | None:
    m = re.search(rf"<{name}\b[^>]*>(.*?)</{name}>", block, re.S)
    return m.group(1) if m else None


def _clean(text: str) -> str:
    return _CONTROL.sub("", html.unescape(text)).strip()


def parse_date(value: str) -> dt.datetime | None:
    """ "26-FEB-1987 15:01:01.79" (spacing varies in the data) -> a naive datetime, or None."""
    m = _DATE.search(value)
    if not m:
        return None
    day, month, year, hour, minute, second, fraction = m.groups()
    try:
        return dt.datetime(
            int(year),
            _MONTHS[month.upper()],
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")),
        )
    except (KeyError, ValueError):
        return None


def parse_sgml(text: str) -> Iterator[dict[str, Any]]:
    """Documents (id, title, body, published) of one SGML file's text, in file order."""
    for m in _ARTICLE.finditer(text):
        newid = _NEWID.search(m.group(1))
        block = m.group(2)
        title = _clean(_tag(block, "TITLE") or "")
        if newid is None or not title:
            continue
        body = _SIGNATURE.sub("", _clean(_tag(block, "BODY") or "")) or title
        date = parse_date(_tag(block, "DATE") or "")
        yield {
            "id": f"reuters-{newid.group(1)}",
            "title": " ".join(title.split()),
            "body": body,
            "published": date.isoformat() if date else None,
        }


def sgml_files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("reut2-*.sgm"))


def load_articles(data_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Every article of the collection (or the first `limit`)."""
    out: list[dict[str, Any]] = []
    for path in sgml_files(data_dir):
        out.extend(parse_sgml(path.read_text(encoding="latin-1")))
        if limit is not None and len(out) >= limit:
            return out[:limit]
    return out


def copy_of(doc: dict[str, Any], copy: int) -> dict[str, Any]:
    """Copy number `copy` (1 is the original) of a document: the same text under a new id."""
    return doc if copy == 1 else {**doc, "id": f"{doc['id']}-c{copy}"}


def write_jsonl(docs: Iterable[dict[str, Any]], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False))
            f.write("\n")
            n += 1
    return n


def convert(articles: list[dict[str, Any]], out_dir: Path, copies: int, shard: int = 2000) -> dict[str, int]:
    """JSONL files of at most `shard` documents (the indexer skips files over max_file_bytes, 10 MB by
    default) under `out_dir`, emptied first; returns documents and words written. Each file holds every copy of
    its articles, side by side: the indexer extracts each distinct (text, date) once per batch of 2,000
    documents it reads in file order, so the copies reuse their original's extraction only within one batch."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.jsonl"):
        old.unlink()
    docs = 0
    per_file = max(1, shard // copies)
    for start in range(0, len(articles), per_file):
        part = articles[start : start + per_file]
        docs += write_jsonl((copy_of(a, c) for a in part for c in range(1, copies + 1)), out_dir / f"{start:06d}.jsonl")
    words = copies * sum(count_words(a) for a in articles)
    return {"documents": docs, "unique_documents": len(articles), "words": words}


def count_words(doc: dict[str, Any]) -> int:
    """Words as the indexer's report counts them (whitespace-separated, title and body)."""
    return len(doc["title"].split()) + len(doc["body"].split())
