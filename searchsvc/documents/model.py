"""The Document model: its fields, their validation (shared with the HTTP API), load errors and warnings,
and the title derived from a body. Knows no file and no format."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load

from searchsvc.text_rules import first_control

SUPPORTED_SUFFIXES = (".txt", ".json", ".jsonl", ".ndjson", ".md", ".markdown", ".html", ".htm")
SIDECAR_SUFFIX = ".meta.json"
DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_MAX_DOCUMENT_BYTES = 2_000_000
# Keys a sidecar or front matter may not set: the body comes from the file itself.
BODY_KEYS = ("body", "text", "content")

# Other names accepted for a field, tried in order when the field itself is absent or null. The field's own
# name always wins over an alias.
FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {"body": ("text", "content"), "published": ("date",)}


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    body: str
    published: dt.date | dt.datetime | None = None
    url: str | None = None
    source: str | None = None
    author: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class LoadError:
    """One document or file that could not be loaded; `name` is the file (and line or item) it came from."""

    name: str
    reason: str


@dataclass(frozen=True)
class LoadWarning:
    """A problem that did not stop loading (invalid UTF-8 replaced); yielded before its documents."""

    name: str
    reason: str


LoadItem = Document | LoadError | LoadWarning


def binary_error(data: bytes, name: str) -> LoadError | None:
    """The LoadError of bytes holding a NUL, which no text file has (UTF-16 aside, which the caller tells by
    its byte order mark): a NUL is how a binary file is told, whatever its format."""
    if b"\0" not in data:
        return None
    return LoadError(name, f"binary file (NUL byte at offset {data.index(0)})")


class DocumentError(ValueError):
    """A mapping that is not a valid document; `reason` names each bad field, `messages` is per field."""

    def __init__(self, name: str, reason: str, messages: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{name}: {reason}" if name else reason)
        self.name = name
        self.reason = reason
        self.messages = dict(messages or {})


# -- values --------------------------------------------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    """Strip, and replace lone surrogates (from JSON "\\ud800" escapes) that could not be encoded later."""
    return _SURROGATES.sub("\ufffd", text).strip()


def _optional(value: str | None) -> str | None:
    value = _clean(value) if value is not None else None
    return value or None


def parse_published(value: str) -> dt.date | dt.datetime:
    """Parse an ISO 8601 date ("2021-03-19") or datetime ("2021-03-19T10:00:00Z"); a given offset is kept."""
    value = value.strip()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return dt.datetime.fromisoformat(value)


def _check_id(value: str) -> None:
    if not 1 <= len(value) <= 256:
        raise ValidationError(f"must be 1 to 256 characters long (got {len(value)})")
    if value != value.strip():
        raise ValidationError("must not start or end with whitespace")
    undecoded = next((c for c in value if "\udc80" <= c <= "\udcff"), None)
    if undecoded:  # os.fsdecode's stand-in for a byte of a file name that is not UTF-8 (a Latin-1 archive's)
        byte = f"0x{ord(undecoded) - 0xDC00:02X}"
        raise ValidationError(f"must be UTF-8 text: byte {byte} is not (a file name to rename as UTF-8?)")
    bad = first_control(value) or next(
        (f"U+{ord(c):04X}" for c in value if c in "\t\n\r" or "\ud800" <= c <= "\udfff"), None
    )
    if bad:
        raise ValidationError(f"must not contain control characters (found {bad})")
    # Every id must be reachable by GET and DELETE /documents/<id>: the router takes `<id>/similar` for the
    # similar-documents route and cannot match a path starting with `/`. (`.` and `..` segments stay allowed:
    # clients remove them from URLs, but reach them percent-encoded, as %2E.)
    if value.startswith("/"):
        raise ValidationError("must not start with '/' (no /documents/<id> URL could reach it)")
    if value.endswith("/similar"):
        raise ValidationError("must not end with '/similar' (GET /documents/<id>/similar lists similar documents)")


def _check_body(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be empty")


class _Published(fields.Field):
    default_error_messages = {
        "type": "must be an ISO 8601 date or datetime string",
        "format": "{input!r} is not a valid ISO 8601 date or datetime ({detail})",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date | None:
        if isinstance(value, dt.date):  # YAML front matter already yields date/datetime objects
            return value
        if not isinstance(value, str):
            raise self.make_error("type")
        if not value.strip():
            return None
        try:
            return parse_published(value)
        except ValueError as exc:
            raise self.make_error("format", input=value, detail=exc) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.isoformat()


class _Tags(fields.Field):
    default_error_messages = {"type": "must be a list of strings or a comma-separated string"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            items: list[Any] = value.split(",")
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise self.make_error("type")
        tags: dict[str, None] = {}
        for item in items:
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str):
                raise self.make_error("type")
            tag = " ".join(_clean(item).split())
            if tag:
                tags.setdefault(tag, None)
        return tuple(tags)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[str]:
        return list(value or ())


_STRING_ERRORS: dict[str, str | list[Any] | dict[Any, Any]] = {
    "invalid": "must be a string",
    "required": "is required",
    "null": "must not be null",
}


def _text(**kwargs: Any) -> fields.String:
    return fields.String(error_messages=_STRING_ERRORS, **kwargs)


class DocumentSchema(Schema):
    """Validates one JSON document and loads it as a Document; dumps a Document to JSON-ready values.

    Unknown fields are ignored (EXCLUDE), so exports with extra keys load. Aliases (FIELD_ALIASES): `text` or
    `content` for `body`, `date` for `published`. Integer ids and numeric title/author/source become strings;
    `tags` is a list or a comma-separated string (trimmed, de-duplicated). A missing or blank title is derived
    from the body. Pass `default_id` (a file stem, or the id in PUT /documents/<id>) to use it when the data
    has no id; an id in the data wins, so a caller that needs them equal must compare.
    """

    class Meta:
        unknown = EXCLUDE

    id = _text(required=True, validate=_check_id)
    title = _text(load_default=None, allow_none=True)
    body = _text(required=True, validate=_check_body)
    published = _Published(load_default=None, allow_none=True)
    url = _text(load_default=None, allow_none=True)
    source = _text(load_default=None, allow_none=True)
    author = _text(load_default=None, allow_none=True)
    tags = _Tags(load_default=())

    def __init__(self, *, default_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_id = default_id

    @pre_load
    def _apply_aliases(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(f"expected an object, got {json_type_name(data)}")
        out = dict(data)
        for name, aliases in FIELD_ALIASES.items():
            if out.get(name) is None:
                out[name] = next((out[a] for a in aliases if out.get(a) is not None), out.get(name))
        if out.get("id") is None and self.default_id is not None:
            out["id"] = self.default_id
        for name, types in (
            ("id", int),
            ("title", int | float),
            ("author", int | float),
            ("source", int | float),
        ):
            value = out.get(name)
            if isinstance(value, types) and not isinstance(value, bool):  # JSON/YAML numbers: 17, 1984
                out[name] = str(value)
        for name in ("id", "body"):  # null reads as missing: "is required" says what to do
            if out.get(name) is None:
                out.pop(name, None)
        return out

    @post_load
    def _make_document(self, data: dict[str, Any], **kwargs: Any) -> Document:
        body = _clean(data["body"])
        title = " ".join(_clean(data["title"] or "").split()) or derive_title(body)
        return Document(
            id=data["id"],
            title=title,
            body=body,
            published=data["published"],
            url=_optional(data["url"]),
            source=_optional(data["source"]),
            author=_optional(data["author"]),
            tags=data["tags"],
        )


_SCHEMA = DocumentSchema()


def json_type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _format_messages(messages: Any) -> str:
    if not isinstance(messages, dict):
        return "; ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
    parts = []
    for key, value in messages.items():
        text = _format_messages(value)
        parts.append(text if key == "_schema" else f"{key}: {text}")
    return "; ".join(parts)


def document_from_mapping(data: Mapping[str, Any], *, default_id: str | None = None, name: str = "") -> Document:
    """Validate one mapping (JSON object, front matter + body) into a Document, or raise DocumentError."""
    if default_id is not None and isinstance(data, Mapping) and data.get("id") is None:
        data = {**data, "id": default_id}
    try:
        return _SCHEMA.load(data)
    except ValidationError as exc:
        raise DocumentError(name, _format_messages(exc.messages), exc.normalized_messages()) from None


# -- titles --------------------------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Matched only from the start of a run of marks, possessively: tried from every mark of a run that no space
# follows ("!!!…x"), it took time quadratic in the run (5 s for 20,000 characters of an untitled PUT).
_SENTENCE_END = re.compile(
    r"(?<![.!?\u2026\u3002\uff01\uff1f])[.!?\u2026\u3002\uff01\uff1f]++[\"'\u201d\u2019)\]]*+(?= |$)"
)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st sr jr gen col lt sgt capt gov sen rep rev no nos vs etc inc ltd co corp dept est "
    "approx fig jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e u.s u.k u.n a.m p.m".split()
)


def _first_sentence(text: str, longer_than: int) -> str:
    """The first sentence of `text`; any prefix longer than `longer_than` when the sentence is (a title is cut
    there anyway), so that a text of abbreviations is not read to its end."""
    for match in _SENTENCE_END.finditer(text):
        if match.start() > longer_than:
            break
        end = match.end()
        following = text[end + 1 : end + 2]
        if following.islower():  # "U.S. diplomats", "approx. ten"
            continue
        if text[match.start()] == "." and match.end() - match.start() == 1:
            word = text[text.rfind(" ", 0, match.start()) + 1 : match.start()].lstrip("\"'(\u201c\u2018").lower()
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        return text[:end]
    return text


def derive_title(body: str, max_len: int = 120) -> str:
    """A title for text that has none: its first sentence, cut at a word boundary with "…" past `max_len`.

    The result has no surrounding whitespace, is at most max_len + 1 characters, and is empty only when the
    body is blank; a single trailing full stop is dropped, as in headlines.
    """
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    text = body.strip()
    if not text:
        return ""
    paragraph = " ".join(_PARAGRAPH_BREAK.split(text, maxsplit=1)[0].split())
    sentence = _first_sentence(paragraph, max_len)
    if len(sentence) <= max_len:
        if len(sentence) > 1 and sentence.endswith(".") and not sentence.endswith(".."):
            sentence = sentence[:-1].rstrip()
        return sentence
    space = sentence.rfind(" ", 0, max_len + 1)
    head = sentence[:space] if space >= max_len // 3 and space > 0 else sentence[:max_len]
    head = head.rstrip(" ,;:-\u2013\u2014") or sentence[:max_len].rstrip() or sentence[:max_len]
    return head + "\u2026"


def build(
    data: dict[str, Any], *, name: str, default_id: str | None, meta: dict[str, Any] | None = None
) -> Document | LoadError:
    """One Document from parsed fields plus sidecar/front-matter `meta` (which wins), or a LoadError."""
    if meta:
        data = {**data, **{key: value for key, value in meta.items() if value is not None}}
    try:
        return document_from_mapping(data, default_id=default_id, name=name)
    except DocumentError as exc:
        return LoadError(exc.name, exc.reason)
