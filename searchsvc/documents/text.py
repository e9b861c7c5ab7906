"""Plain-text articles: an optional headline line, then the body; metadata only from a sidecar."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from searchsvc.documents.model import LoadItem, build

# A first line longer than this is a paragraph, not a headline.
TITLE_LINE_MAX = 150


def split_text(text: str) -> tuple[str | None, str]:
    """(title, body): the first line is the title when it is short and a blank line follows it.

    Otherwise there is no title (the caller derives one) and the body is the whole text.
    """
    stripped = text.strip()
    first, _, rest = stripped.partition("\n")
    second, _, remainder = rest.partition("\n")
    if not second.strip() and remainder.strip() and len(first.strip()) <= TITLE_LINE_MAX:
        return " ".join(first.split()), remainder.strip()
    return None, stripped


def parse_text(text: str, *, name: str, default_id: str, meta: dict[str, Any]) -> Iterator[LoadItem]:
    """One document per file; a sidecar may give id and metadata (its title keeps line one in the body)."""
    title, body = split_text(text) if not meta.get("title") else (None, text.strip())
    yield build({"title": title, "body": body}, name=name, default_id=default_id, meta=meta)
