"""What a search asks for, as plain types that cannot be built invalid: the request, its filters, and the names
of its modes, sorts and facets. No Whoosh and no HTTP: the API's schemas, the CLI and scripts all build these,
and the service trusts them."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field

from searchsvc.errors import ParameterError
from searchsvc.extract.canonical import keyword_term
from searchsvc.extract.types import ENTITY_TYPES

MATCH_MODES = ("auto", "all", "any")
SORTS = ("relevance", "published", "-published")
FACETS = ("person", "org", "place", "published", "mentioned")


# An entity name as the keyword fields index it (extract/canonical.py): the one rule, for filters and fields.
normalise_name = keyword_term


@dataclass(frozen=True)
class Filters:
    """Structured filters: every name given must match (AND); dates are inclusive, as given (ISO)."""

    person: tuple[str, ...] = ()
    org: tuple[str, ...] = ()
    place: tuple[str, ...] = ()
    published_from: str | None = None
    published_to: str | None = None
    mentioned_from: str | None = None
    mentioned_to: str | None = None

    def __post_init__(self) -> None:
        # Validated once, here: every way in (the API's schemas, the CLI, scripts) builds this type.
        for kind in ENTITY_TYPES:
            for name in getattr(self, kind):
                if not normalise_name(name):
                    raise ParameterError(f"{kind} must not be empty", kind)
        for name in ("published", "mentioned"):
            lo = getattr(self, f"{name}_from")
            hi = getattr(self, f"{name}_to")
            if lo is None and hi is None:
                continue
            first = date_bounds(lo, f"{name}_from")[0] if lo is not None else LOWEST_DAY
            last = date_bounds(hi, f"{name}_to")[1] if hi is not None else HIGHEST_DAY
            if first > last:
                raise ParameterError(f"{name}_from is after {name}_to", f"{name}_from")
            object.__setattr__(self, f"_{name}_days", (first, last))

    def days(self, name: str) -> tuple[str, str] | None:
        """The inclusive ISO day range of the `published` or `mentioned` filter, parsed once; None if absent."""
        days: tuple[str, str] | None = getattr(self, f"_{name}_days", None)
        return days

    def __bool__(self) -> bool:
        return any(getattr(self, f) for f in self.__dataclass_fields__)


_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)
LOWEST_DAY = "0001-01-01"
HIGHEST_DAY = "9999-12-31"


def date_bounds(value: str, fieldname: str) -> tuple[str, str]:
    """The first and last ISO day of `2021-03-19`, `2021-03` (the month) or `2021` (the year)."""
    m = _DATE.fullmatch(value.strip())
    try:
        if not m:
            raise ValueError(value)
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        if day is not None:
            first = last = dt.date(year, int(month), int(day))
        elif month is not None:
            first = dt.date(year, int(month), 1)
            # No date arithmetic past the month: 9999-12 has no next month to step back from.
            last = first.replace(day=calendar.monthrange(year, first.month)[1])
        else:
            first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    except ValueError:
        raise ParameterError(
            f"{fieldname} must be a date like 2021-03-19, a month like 2021-03 or a year like 2021; got {value!r}",
            fieldname,
        ) from None
    return first.isoformat(), last.isoformat()


@dataclass(frozen=True)
class SearchRequest:
    """A search, validated when built (facets, sort, match here; filters in Filters; ranges and limits by the API's
    schema); the service trusts it. Hashable, so it keys the result cache."""

    q: str = ""
    match: str = "auto"
    filters: Filters = field(default_factory=Filters)
    sort: str | None = None  # None: relevance when there is a q, newest first otherwise
    limit: int = 10
    offset: int = 0
    facets: tuple[str, ...] = ()
    facet_size: int = 10
    highlight: bool = True
    cursor: str | None = None  # the `next` of the previous page: the page after it (offset must be 0)

    def __post_init__(self) -> None:
        if self.match not in MATCH_MODES:
            raise ParameterError(f"match must be one of {', '.join(MATCH_MODES)}", "match")
        if self.sort is not None and self.sort not in SORTS:
            raise ParameterError(f"sort must be one of {', '.join(SORTS)}", "sort")
        for name in self.facets:
            if name not in FACETS:
                raise ParameterError(f"unknown facet {name!r}; facets are: {', '.join(FACETS)}", "facets")

    @property
    def effective_sort(self) -> str:
        return self.sort or ("relevance" if self.q.strip() else "-published")
