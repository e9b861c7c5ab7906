"""Markdown files: YAML front matter for metadata, the text with its markup lightly stripped as the body."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from searchsvc.documents.model import BODY_KEYS, LoadError, LoadItem, build, json_type_name

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_HEADING = re.compile(r"^( {0,3})#{1,6}(?:[ \t]+|$)(.*?)(?:[ \t]+#+)?[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}(?:> ?)+")
_RULE = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*)$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S+.*$")
_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref] -> text
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # <https://...> -> the address
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),  # *em*
    (re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])"), r"\1"),  # _em_, not snake_case
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),  # strikethrough
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # inline code keeps its text
)


def strip_inline(line: str) -> str:
    """Remove emphasis markers and link targets from one line of markdown."""
    for pattern, replacement in _INLINE:
        line = pattern.sub(replacement, line)
    return line


def strip_markdown(markdown: str) -> str:
    """Plain text for indexing: no heading `#`s, emphasis, link targets or rules; code blocks kept as text."""
    out: list[str] = []
    fence = ""
    for line in markdown.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = ""
            else:
                out.append(line)
            continue
        if opening:
            fence = opening.group(1)
            continue
        if _RULE.match(line) or _LINK_DEFINITION.match(line):
            continue
        line = _QUOTE.sub("", line)
        line = _HEADING.sub(r"\1\2", line)
        out.append(strip_inline(line))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def split_heading(markdown: str) -> tuple[str | None, str]:
    """(title, rest) when the text opens with a `# heading`, else (first `# heading` or None, whole text)."""
    lines = markdown.strip().split("\n")
    match = _H1.match(lines[0]) if lines else None
    if match and "\n".join(lines[1:]).strip():
        return strip_inline(match.group(1)).strip(), "\n".join(lines[1:])
    fence = ""
    for line in lines:
        opening = _FENCE.match(line)
        if opening:
            fence = "" if fence else opening.group(1)
        elif not fence and (match := _H1.match(line)):
            return strip_inline(match.group(1)).strip(), markdown
    return None, markdown


def _front_matter(text: str, name: str) -> tuple[dict[str, Any], str] | LoadError:
    import frontmatter
    import yaml

    handler = frontmatter.detect_format(text, frontmatter.handlers)
    if handler is None:
        return {}, text
    try:
        raw, content = handler.split(text)
    except ValueError:  # an opening "---" without a closing one: not front matter
        return {}, text
    try:
        meta = handler.load(raw)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: JSON and TOML front matter
        return LoadError(name, f"invalid front matter: {' '.join(str(exc).split())}")
    except RecursionError:  # JSON front matter nested a few thousand deep
        return LoadError(name, "invalid front matter: nested too deeply")
    if meta is None:
        return {}, content
    if not isinstance(meta, dict):
        return LoadError(name, f"front matter must be a mapping of fields, got {json_type_name(meta)}")
    return {str(k): v for k, v in meta.items() if k not in BODY_KEYS}, content


def parse_markdown(text: str, *, name: str, default_id: str, meta: dict[str, Any]) -> Iterator[LoadItem]:
    """Title from front matter (or the sidecar), else the first `# heading`, else derived from the body."""
    parsed = _front_matter(text, name)
    if isinstance(parsed, LoadError):
        yield parsed
        return
    front, content = parsed
    heading = None
    if not (front.get("title") or meta.get("title")):  # a given title keeps the heading in the body
        heading, content = split_heading(content)
    data = {"title": heading, "body": strip_markdown(content), **front}
    yield build(data, name=name, default_id=default_id, meta=meta)
