"""Marshmallow schemas of every request and response, and the OpenAPI document generated from them.

Requests are loaded through these schemas (GET query strings and POST JSON bodies alike), so validation and
documentation cannot drift apart. Responses are built as plain dicts by search.py and serialised directly (a
marshmallow dump per hit would cost more than the search); the response schemas describe them for OpenAPI,
and the tests load every response through its schema to keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from searchsvc.config import Settings
from searchsvc.errors import CODES, ParameterError, UnknownParameterError
from searchsvc.extract.types import ENTITY_TYPES
from searchsvc.search.cursors import MAX_TOKEN
from searchsvc.search.requests import FACETS, MATCH_MODES, SORTS, Filters

FORMATS = ("json", "ndjson")

# Up to 19 digits: every 64-bit integer (task ids and `before` go up to 2**63 - 1); ranges bound the rest.
_INT = re.compile(r"[+-]?\d{1,19}", re.ASCII)


# -- fields --------------------------------------------------------------------------------------------------
class StrictInteger(fields.Integer):
    """An integer: a JSON number without a fraction, or decimal digits in a query string (marshmallow alone
    would take 1.5 as 1 and true as 1)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        if isinstance(value, str) and not _INT.fullmatch(value.strip()):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class StringList(fields.List):
    """A list of strings that also accepts one string (`person=Wang Yi` or `"person": "Wang Yi"`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.String(validate=validate.Length(min=1, max=200)), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        # Counted before any item is validated: 200,000 names took seconds to validate and match.
        limit = getattr(self.parent, "max_filter_values", None)
        if limit is not None and isinstance(value, list) and len(value) > limit:
            raise ValidationError(f"More than {limit} values ({len(value)}).")
        return super()._deserialize(value, attr, data, **kwargs)


class FacetList(fields.List):
    """Facet names: repeated (`facets=person&facets=place`), comma-separated (`person,place`) or a list."""

    def __init__(self, **kwargs: Any) -> None:
        # The names are checked where the request is built (search/requests.py); the enum documents them.
        super().__init__(fields.String(metadata={"enum": list(FACETS)}), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            # Repeats folded before any per-name work: a body of a million names took seconds to validate.
            names = dict.fromkeys(part.strip() for v in dict.fromkeys(value) for part in v.split(","))
            names.pop("", None)
            value = list(names)
            if len(value) > len(FACETS):  # then one of them is no facet
                raise ValidationError(f"More than the {len(FACETS)} facets ({', '.join(FACETS)}).")
        return super()._deserialize(value, attr, data, **kwargs)


def _date_field(name: str, help_text: str) -> fields.String:
    # Parsed and checked where the request is built (search/requests.py Filters), once.
    return fields.String(
        load_default=None,
        metadata={
            "description": help_text + " A day (2021-03-19), a month (2021-03) or a year (2021); inclusive.",
            "example": "2021-03",
        },
    )


# -- requests ------------------------------------------------------------------------------------------------
class RequestSchema(Schema):
    """Base of request schemas: knows the service's limits and rejects unknown parameters by name."""

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Only plain numbers are kept: apispec deep-copies schema instances.
        self.max_query_length = settings.max_query_length if settings is not None else 2000
        self.max_filter_values = settings.max_filter_values if settings is not None else 100
        if settings is not None:
            for name, setting in (("limit", "max_limit"), ("offset", "max_offset")):
                if name in self.fields:
                    lo = 1 if name == "limit" else 0
                    self.fields[name].validators = [validate.Range(lo, getattr(settings, setting))]
            if "limit" in self.fields:  # the default page is no larger than the largest one allowed
                field = self.fields["limit"]
                field.load_default = min(field.load_default, settings.max_limit)


class SearchRequestSchema(RequestSchema):
    q = fields.String(
        load_default="",
        metadata={
            "description": 'The query: words, "phrases", "phrase"~3, AND/OR/NOT, +/-word, (groups), '
            "title:/body:/entity:/person:/org:/place: fields, prefix*, typo~. Empty lists "
            "every document that passes the filters.",
            "example": '"Belt and Road" Lavrov',
        },
    )
    match = fields.String(
        load_default="auto",
        metadata={
            "enum": list(MATCH_MODES),
            "description": "How words without an operator combine: all (AND), any (OR), auto (short "
            "queries rank documents with every word first; long ones are OR).",
        },
    )
    person = StringList(
        load_default=list,
        metadata={
            "description": "Only documents naming this person "
            "(whole name, any case). Repeat for several (all must match)."
        },
    )
    org = StringList(load_default=list, metadata={"description": "Only documents naming this organisation."})
    place = StringList(load_default=list, metadata={"description": "Only documents naming this place."})
    published_from = _date_field("published_from", "Published on or after.")
    published_to = _date_field("published_to", "Published on or before.")
    mentioned_from = _date_field("mentioned_from", "Mentions a date on or after.")
    mentioned_to = _date_field("mentioned_to", "Mentions a date on or before.")
    sort = fields.String(
        load_default=None,
        metadata={
            "enum": list(SORTS),
            "description": "relevance (default with a q), published (oldest first), -published (newest "
            "first; default without a q).",
        },
    )
    limit = StrictInteger(load_default=10, validate=validate.Range(1, 100), metadata={"description": "Hits per page."})
    offset = StrictInteger(
        load_default=0, validate=validate.Range(0, 10_000), metadata={"description": "Hits to skip."}
    )
    facets = FacetList(
        load_default=list,
        metadata={
            "description": "Facets to count over all matches: " + ", ".join(FACETS) + " (repeat or comma-separate)."
        },
    )
    facet_size = StrictInteger(
        load_default=10, validate=validate.Range(1, 100), metadata={"description": "Values per facet."}
    )
    highlight = fields.Boolean(load_default=True, metadata={"description": "Return marked snippets."})
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=MAX_TOKEN),
        metadata={
            "description": "The `next` of the previous page: the page after it, for any sort and beyond the offset "
            "limit, unchanged while documents are written (with the same q, match, filters and sort; offset 0)."
        },
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(FORMATS),
        metadata={
            "description": "json (a page), or ndjson: every hit, one JSON object a line (id, title, published, "
            "entities, dates), streamed page by page, each page within the time bound."
        },
    )

    @validates("q")
    def _check_q(self, value: str, **kwargs: Any) -> None:
        limit = self.max_query_length
        if len(value) > limit:
            raise ValidationError(f"Longer than {limit} characters.")

    @validates_schema
    def _check_filter_values(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        """The entity filters together hold at most max_filter_values names (each one is checked by StringList)."""
        limit = self.max_filter_values
        total = 0
        for name in ENTITY_TYPES:
            total += len(data.get(name) or ())
            if total > limit:
                raise ValidationError(f"The person, org and place filters hold more than {limit} values.", name)


class SimilarRequestSchema(RequestSchema):
    limit = StrictInteger(
        load_default=10, validate=validate.Range(1, 100), metadata={"description": "Documents to return."}
    )


class EntityPageRequestSchema(RequestSchema):
    limit = StrictInteger(
        load_default=10, validate=validate.Range(1, 100), metadata={"description": "Newest documents to list."}
    )


class EntitiesRequestSchema(RequestSchema):
    type = fields.String(required=True, validate=validate.OneOf(ENTITY_TYPES), metadata={"description": "Entity type."})
    prefix = fields.String(
        load_default="",
        validate=validate.Length(max=200),
        metadata={"description": "Start of the name, any case."},
    )
    limit = StrictInteger(
        load_default=10, validate=validate.Range(1, 100), metadata={"description": "Names to return."}
    )


class NoParametersSchema(RequestSchema):
    """Endpoints without parameters still reject unknown ones (a typo should not pass silently)."""


def load_request(schema: RequestSchema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate request parameters; unknown names -> UnknownParameterError, bad values -> ParameterError."""
    known = {f.data_key or name for name, f in schema.fields.items()}
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise UnknownParameterError(f"unknown parameter {unknown[0]!r}; parameters are: {allowed}", unknown[0])
    try:
        return schema.load(data)
    except ValidationError as exc:
        name, message = _first_error(exc.messages)
        raise ParameterError(f"{name}: {message}", name) from None


def filters_from(params: Mapping[str, Any]) -> Filters:
    """The filters of search parameters loaded by SearchRequestSchema (the API's and the pages' alike)."""
    return Filters(
        person=tuple(params["person"]),
        org=tuple(params["org"]),
        place=tuple(params["place"]),
        published_from=params["published_from"],
        published_to=params["published_to"],
        mentioned_from=params["mentioned_from"],
        mentioned_to=params["mentioned_to"],
    )


def _first_error(messages: Any) -> tuple[str, str]:
    if isinstance(messages, Mapping):
        for key in messages:
            name = str(key)
            inner = messages[key]
            while isinstance(inner, Mapping):  # list items: {"person": {0: ["..."]}}
                inner = next(iter(inner.values()))
            if isinstance(inner, list) and inner:
                return name, str(inner[0])
            return name, str(inner)
    return "_schema", str(messages)


def args_to_data(schema: RequestSchema, args: Any) -> dict[str, Any]:
    """A query string (a MultiDict) as the dict the schema loads: lists for list fields; a single-valued
    parameter given twice is an error (which one did the caller mean?)."""
    data: dict[str, Any] = {}
    for key in args:
        # An empty form field means "not given" (except q, where empty already means "everything").
        values = [v for v in args.getlist(key) if v != "" or key == "q"]
        if not values:
            continue
        if isinstance(schema.fields.get(key), fields.List):
            data[key] = values
        elif len(values) > 1:
            raise ParameterError(f"{key} is given {len(values)} times; give it once", key)
        else:
            data[key] = values[0]
    return data


# -- responses -----------------------------------------------------------------------------------------------
class ErrorDetailSchema(Schema):
    code = fields.String(
        required=True,
        validate=validate.OneOf(sorted(CODES)),
        metadata={"description": "Stable machine-readable code."},
    )
    message = fields.String(required=True)
    field = fields.String(allow_none=True, required=True, metadata={"description": "The offending parameter."})
    request_id = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The request's id, as in the X-Request-Id response header and the server's logs."},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)


class HighlightsSchema(Schema):
    title = fields.List(fields.String(), required=True)
    body = fields.List(fields.String(), required=True)


class EntityNamesSchema(Schema):
    person = fields.List(fields.String(), required=True)
    org = fields.List(fields.String(), required=True)
    place = fields.List(fields.String(), required=True)


class HitSchema(Schema):
    id = fields.String(required=True)
    score = fields.Float(allow_none=True, required=True, metadata={"description": "null when sorted by date."})
    title = fields.String(required=True)
    published = fields.String(allow_none=True, required=True)
    url = fields.String(allow_none=True, required=True)
    source = fields.String(allow_none=True, required=True)
    highlights = fields.Nested(
        HighlightsSchema,
        required=True,
        metadata={"description": "Snippets with matches in <mark>; other text is HTML-escaped."},
    )
    entities = fields.Nested(EntityNamesSchema, required=True)
    dates = fields.List(fields.String(), required=True, metadata={"description": "Mentioned dates (ISO)."})


class FacetValueSchema(Schema):
    value = fields.String(required=True)
    count = fields.Integer(required=True)


class SearchResponseSchema(Schema):
    query = fields.String(required=True)
    total = fields.Integer(required=True)
    total_relation = fields.String(
        required=True,
        validate=validate.OneOf(["eq", "gte"]),
        metadata={"description": "gte: counting stopped at the bound; total is a lower bound."},
    )
    took_ms = fields.Float(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    timed_out = fields.Boolean(
        required=True, metadata={"description": "The search hit the time limit; the results are partial."}
    )
    hits = fields.List(fields.Nested(HitSchema), required=True)
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FacetValueSchema)), required=True)
    suggestion = fields.String(allow_none=True, required=True, metadata={"description": "Did you mean."})
    next = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `cursor` for the following page; null when this page is the last."},
    )


class SpanSchema(Schema):
    field = fields.String(required=True, validate=validate.OneOf(["title", "body"]))
    start = fields.Integer(required=True, metadata={"description": "Character offset in the field (from 0)."})
    end = fields.Integer(required=True, metadata={"description": "Character offset just past the mention."})
    text = fields.String(required=True, metadata={"description": "The text at [start, end): the surface form."})


class MentionSchema(Schema):
    name = fields.String(required=True, metadata={"description": "The canonical name."})
    mentions = fields.Integer(required=True)
    aliases = fields.List(
        fields.String(), required=True, metadata={"description": "How this document wrote it (cleaned)."}
    )
    spans = fields.List(fields.Nested(SpanSchema), required=True, metadata={"description": "Each mention."})


class DocumentEntitiesSchema(Schema):
    person = fields.List(fields.Nested(MentionSchema), required=True)
    org = fields.List(fields.Nested(MentionSchema), required=True)
    place = fields.List(fields.Nested(MentionSchema), required=True)


class MentionedDateSchema(Schema):
    value = fields.String(required=True)
    precision = fields.String(required=True)
    text = fields.String(required=True)
    spans = fields.List(
        fields.Nested(SpanSchema), required=True, metadata={"description": "Each expression of this date."}
    )


class DocumentSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    published = fields.String(allow_none=True, required=True)
    url = fields.String(allow_none=True, required=True)
    source = fields.String(allow_none=True, required=True)
    author = fields.String(allow_none=True, required=True)
    tags = fields.List(fields.String(), required=True)
    entities = fields.Nested(DocumentEntitiesSchema, required=True)
    dates = fields.List(fields.Nested(MentionedDateSchema), required=True)


class SimilarHitSchema(Schema):
    id = fields.String(required=True)
    score = fields.Float(required=True)
    title = fields.String(required=True)
    published = fields.String(allow_none=True, required=True)
    url = fields.String(allow_none=True, required=True)
    source = fields.String(allow_none=True, required=True)


class SimilarResponseSchema(Schema):
    id = fields.String(required=True)
    hits = fields.List(fields.Nested(SimilarHitSchema), required=True)
    timed_out = fields.Boolean(
        required=True,
        metadata={"description": "query_timeout passed: the hits are the best of the documents ranked by then."},
    )


class EntityCountSchema(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True, metadata={"description": "Documents naming it."})


class EntitiesResponseSchema(Schema):
    type = fields.String(required=True)
    prefix = fields.String(required=True)
    entities = fields.List(fields.Nested(EntityCountSchema), required=True)


class EntityDocumentSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    published = fields.String(allow_none=True, required=True)


class MonthCountSchema(Schema):
    month = fields.String(required=True, metadata={"description": "YYYY-MM"})
    count = fields.Integer(required=True)


class EntityPageSchema(Schema):
    type = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "The canonical name."})
    documents = fields.Integer(required=True, metadata={"description": "Documents naming it."})
    documents_relation = fields.String(required=True, metadata={"description": "eq, or gte for a lower bound."})
    first_published = fields.String(allow_none=True, required=True)
    last_published = fields.String(allow_none=True, required=True)
    aliases = fields.List(
        fields.String(), required=True, metadata={"description": "How its newest documents wrote it."}
    )
    seen_with = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(EntityCountSchema)),
        required=True,
        metadata={"description": "Per entity type, the names most often in the same documents."},
    )
    months = fields.List(
        fields.Nested(MonthCountSchema), required=True, metadata={"description": "Documents by month published."}
    )
    newest = fields.List(fields.Nested(EntityDocumentSchema), required=True)


class EntityTotalsSchema(Schema):
    person = fields.Integer(required=True)
    org = fields.Integer(required=True)
    place = fields.Integer(required=True)


class CacheStatsSchema(Schema):
    entries = fields.Integer(required=True, metadata={"description": "Search responses held (this worker's)."})
    capacity = fields.Integer(required=True, metadata={"description": "SEARCHSVC_CACHE_SIZE."})


class StatsResponseSchema(Schema):
    documents = fields.Integer(required=True)
    generation = fields.String(required=True)
    built_at = fields.String(
        required=True, metadata={"description": "When the generation was built or last written to (UTC)."}
    )
    last_commit_at = fields.String(
        allow_none=True, required=True, metadata={"description": "When the index was last committed to (UTC)."}
    )
    segments = fields.Integer(required=True, metadata={"description": "Whoosh segments of the live index."})
    size_bytes = fields.Integer(
        allow_none=True, required=True, metadata={"description": "The live generation's files on disk."}
    )
    pending_tasks = fields.Integer(required=True, metadata={"description": "Write tasks enqueued or processing."})
    cache = fields.Nested(CacheStatsSchema, required=True)
    entities = fields.Nested(EntityTotalsSchema, required=True, metadata={"description": "Distinct names by type."})


class HealthResponseSchema(Schema):
    status = fields.String(required=True)


class ReadyResponseSchema(Schema):
    status = fields.String(required=True, metadata={"description": "ready (else a 503 error)."})


# -- OpenAPI -------------------------------------------------------------------------------------------------
