"""Markdown files: YAML front matter for metadata, the text with its markup lightly stripped as the body."""

from __future__ import annotations

import bisect
import functools
import re
import tomllib
from collections.abc import Iterator
from typing import Any

from searchsvc.documents.model import BODY_KEYS, LoadError, LoadItem, build, json_type_name

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Headings' opening; the text and an optional closing sequence ("## Title ##") are taken apart by
# _heading_text: as "(.+?)(?:[ \t]+#+)?[ \t]*$", a heading with a long run of spaces took quadratic time.
_H1 = re.compile(r" {0,3}#[ \t]+")
_HEADING = re.compile(r"( {0,3})#{1,6}(?:[ \t]+|$)")
_QUOTE = re.compile(r"^ {0,3}(?:> ?)+")
_RULE = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*)$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S+.*$")
# A link's target: no brackets, and parentheses only in pairs ("Foo_(bar)"). Every pattern applied to a line
# is linear in it: a label or target cannot run past the next bracket, so a line of 32 KB of "[" is not read
# again from each of its brackets (2.6 s, and 2 MB documents are accepted).
_TARGET = r"\((?:[^()\[\]]|\([^()\[\]]*\))*+\)"
_LINKS = (
    (re.compile(r"!\[([^\[\]]*)\]" + _TARGET), r"\1"),  # image -> alt text
    (re.compile(r"\[([^\[\]]+)\]" + _TARGET), r"\1"),  # [text](url) -> text
    (re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]"), r"\1"),  # [text][ref] -> text
    (re.compile(r"<((?:https?|mailto):[^<>\s]+)>"), r"\1"),  # <https://...> -> the address
)
# Emphasis: (opener, closer) found at zero width, the delimiter in group 1, and paired by _unwrap. As one
# regular expression, "(\*\*|__)(?=\S)(.+?)(?<=\S)\1", it read the rest of the line again from every opener
# without a closer: quadratic.
_EMPHASIS = (
    (re.compile(r"(?=(\*\*|__)\S)"), re.compile(r"(?<=\S)(?=(\*\*|__))")),  # strong
    (re.compile(r"(?<![\w*])(?=(\*)[^\s*])"), re.compile(r"(?<=[^\s*])(?=(\*)(?![\w*]))")),  # *em*
    (re.compile(r"(?<![\w_])(?=(_)[^\s_])"), re.compile(r"(?<=[^\s_])(?=(_)(?![\w_]))")),  # _em_, not snake_case
    (re.compile(r"(?=(~~)\S)"), re.compile(r"(?<=\S)(?=(~~))")),  # strikethrough
)
_CODE = re.compile(r"`([^`\n]+)`")  # inline code keeps its text


def _unwrap(line: str, opener: re.Pattern[str], closer: re.Pattern[str]) -> str:
    """`line` with each delimited span replaced by its content, as re.sub of "OPEN(.+?)CLOSE" would (the first
    closer of the same delimiter after at least one character), in linear time: the closers are listed once,
    and once an opener of a delimiter finds none, no later one of it can."""
    closers: dict[str, list[int]] = {}
    for found in closer.finditer(line):
        closers.setdefault(found.group(1), []).append(found.start())
    if not closers:
        return line
    out: list[str] = []
    pos = 0
    exhausted: set[str] = set()
    for found in opener.finditer(line):
        start, delimiter = found.start(), found.group(1)
        if start < pos or delimiter in exhausted:
            continue
        ends = closers.get(delimiter, [])
        k = bisect.bisect_left(ends, start + len(delimiter) + 1)
        if k == len(ends):
            exhausted.add(delimiter)
            continue
        end = ends[k]
        out.append(line[pos:start])
        out.append(line[start + len(delimiter) : end])
        pos = end + len(delimiter)
    out.append(line[pos:])
    return "".join(out)


def _heading_text(rest: str) -> str:
    """A heading's text without its closing sequence: `rest` is what follows the opening `#`s and spaces."""
    text = rest.rstrip(" \t")
    unhashed = text.rstrip("#")
    if unhashed != text and (not unhashed or unhashed[-1] in " \t"):
        text = unhashed.rstrip(" \t")
    return text


def _h1(line: str) -> str | None:
    """The text of a `# heading` line, or None."""
    opening = _H1.match(line)
    if opening is None:
        return None
    return _heading_text(line[opening.end() :]) or None


def strip_inline(line: str) -> str:
    """Remove emphasis markers and link targets from one line of markdown."""
    for pattern, replacement in _LINKS:
        line = pattern.sub(replacement, line)
    for opener, closer in _EMPHASIS:
        line = _unwrap(line, opener, closer)
    return _CODE.sub(r"\1", line)


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
        if heading := _HEADING.match(line):
            line = heading.group(1) + _heading_text(line[heading.end() :])
        out.append(strip_inline(line))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def split_heading(markdown: str) -> tuple[str | None, str]:
    """(title, rest) when the text opens with a `# heading`, else (first `# heading` or None, whole text)."""
    lines = markdown.strip().split("\n")
    first = _h1(lines[0]) if lines else None
    if first is not None and "\n".join(lines[1:]).strip():
        return strip_inline(first).strip(), "\n".join(lines[1:])
    fence = ""
    for line in lines:
        opening = _FENCE.match(line)
        if opening:
            fence = "" if fence else opening.group(1)
        elif not fence and (heading := _h1(line)) is not None:
            return strip_inline(heading).strip(), markdown
    return None, markdown


@functools.cache
def _handlers() -> list[Any]:
    """python-frontmatter's YAML and JSON handlers, and TOML (`+++`, Hugo's) read with the standard library's
    tomllib: python-frontmatter offers TOML only with the `toml` package, so its block was indexed as text."""
    import frontmatter
    from frontmatter.default_handlers import BaseHandler

    class TOMLHandler(BaseHandler):
        FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
        START_DELIMITER = END_DELIMITER = "+++"

        def load(self, fm: str, **kwargs: object) -> Any:
            return tomllib.loads(fm)  # TOMLDecodeError is a ValueError

    return [*frontmatter.handlers, TOMLHandler()]


def _front_matter(text: str, name: str) -> tuple[dict[str, Any], str] | LoadError:
    import frontmatter
    import yaml

    handler = frontmatter.detect_format(text, _handlers())
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
