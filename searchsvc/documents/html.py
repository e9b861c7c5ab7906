"""HTML pages: trafilatura finds the main text, title, canonical URL, author and site name.

The publication date is read only from what the page states in its markup (meta tags, JSON-LD
`datePublished`, `<time itemprop="datePublished">` or `<time pubdate>`), never guessed from the text:
htmldate, even in its fast mode, falls back to any ISO date written in the body. Nothing is fetched: the
page is parsed here and trafilatura gets the tree, so neither it nor htmldate sees a string it could take
for a URL.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

from searchsvc.documents.model import LoadError, LoadItem, LoadWarning, build, parse_published

# Meta tags (property, name or itemprop, lower-cased) that state a publication date, most trusted first.
DATE_META = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publication_date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "citation_publication_date",
    "date",
)
# trafilatura takes ~4 s and ~170 MB a megabyte of dense markup, in proportion (a 10 MB table: 34 s and 1.7 GB
# of memory): a page larger than this is read as its visible text, menus and footers included.
MAX_EXTRACTED_CHARS = 1_000_000
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_ISO_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}")
_BLOCKS = (
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
    "td", "th", "tr", "ul",
)  # fmt: skip
_NON_CONTENT = "//script|//style|//noscript|//template|//head"


def _parse_stated(value: str | None) -> dt.date | None:
    """An ISO date or datetime; "2021-03-19T10:00:00 GMT"-like values keep only their date part."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return parse_published(value)
    except ValueError:
        prefix = _ISO_DATE_PREFIX.match(value)
        if prefix:
            try:
                return dt.date.fromisoformat(prefix.group(0))
            except ValueError:
                return None
    return None


def _json_ld_dates(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        value = node.get("datePublished")
        if isinstance(value, str):
            yield value
        for child in node.values():
            yield from _json_ld_dates(child)
    elif isinstance(node, list):
        for child in node:
            yield from _json_ld_dates(child)


def stated_date(tree: Any) -> dt.date | None:
    """The publication date the page's markup states, or None (never one found in the running text)."""
    found: dict[str, dt.date] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        if key in DATE_META and key not in found:
            parsed = _parse_stated(meta.get("content"))
            if parsed is not None:
                found[key] = parsed
    for key in DATE_META:
        if key in found:
            return found[key]
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except (ValueError, RecursionError):
            continue
        for value in _json_ld_dates(data):
            if (parsed := _parse_stated(value)) is not None:
                return parsed
    for time in tree.xpath('//time[@itemprop="datePublished" or @pubdate]'):
        if (parsed := _parse_stated(time.get("datetime") or time.text_content())) is not None:
            return parsed
    return None


def _plain_text(tree: Any, *, in_place: bool = False) -> str:
    """Visible text of the page, a fallback for pages too short or odd for trafilatura, or too large for it.
    `in_place` strips `tree` itself instead of a copy (a large page's, which is not read again)."""
    tree = tree if in_place else copy.deepcopy(tree)
    for element in tree.xpath(_NON_CONTENT):
        element.drop_tree()
    for element in tree.iter(*_BLOCKS):  # else "<td>a</td><td>b</td>" reads as the one word "ab"
        element.tail = "\n" + (element.tail or "")
    lines = (" ".join(line.split()) for line in tree.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


def parse_html(text: str, *, name: str, default_id: str, meta: dict[str, Any]) -> Iterator[LoadItem]:
    """Main text and metadata of one page; a sidecar's fields win over what the page says."""
    try:
        import lxml.etree
        import lxml.html
        import trafilatura
    except ImportError as exc:  # e.g. lxml_html_clean missing: justext imports lxml.html.clean
        yield LoadError(name, f"HTML support is unavailable: {exc}")
        return
    try:
        tree = lxml.html.document_fromstring(_XML_DECLARATION.sub("", text, count=1))
    except (lxml.etree.ParserError, ValueError) as exc:
        yield LoadError(name, f"cannot parse HTML: {exc}")
        return
    published = stated_date(tree)
    found: dict[str, Any] = {}
    if len(text) > MAX_EXTRACTED_CHARS:
        reason = f"page of {len(text):,} characters (over {MAX_EXTRACTED_CHARS:,}): indexed as its whole visible text"
        yield LoadWarning(name, reason)
    else:
        try:
            extracted = trafilatura.bare_extraction(
                tree,
                with_metadata=True,
                include_comments=False,
                # only consulted by trafilatura's own date field, which is not used (see stated_date)
                date_extraction_params={"extensive_search": False, "original_date": True},
            )
        except Exception as exc:  # a third-party failure on one page must not stop a batch
            yield LoadError(name, f"HTML extraction failed: {type(exc).__name__}: {exc}")
            return
        # bare_extraction returns a Document object unless as_dict=True (typed as either)
        found = extracted.as_dict() if extracted is not None else {}  # type: ignore[union-attr]  # see above
    title = found.get("title") or (tree.findtext(".//title") or "").strip() or None
    tags = [tag for value in found.get("tags") or [] for tag in str(value).split(",")]
    data: dict[str, Any] = {
        "title": title,
        "body": found.get("text") or _plain_text(tree, in_place=not found),
        "published": published,
        "url": found.get("url"),
        "author": found.get("author"),
        "source": found.get("sitename"),
        "tags": tags,
    }
    if not (data["body"] or "").strip():
        yield LoadError(name, "no text found in the HTML page")
        return
    yield build(data, name=name, default_id=default_id, meta=meta)
