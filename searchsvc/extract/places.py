"""One canonical name per country, so that "U.S.", "US" and "the United States" are one entity in the index.

Country names come from pycountry (offline ISO 3166 data). Its names are official ones ("Russian Federation",
"Korea, Republic of"); we index the name a news reader types, so a country's canonical name is, in order: our
override for that country, pycountry's `common_name`, then its `name`. Only names are looked up, never bare
ISO codes, except the few codes in ALIASES: "IT", "CAN" or "ARE" must not become Italy, Canada or the UAE.
"""

from __future__ import annotations

import functools
import re

import pycountry

# Canonical name by ISO alpha-2 where pycountry has no common name a reader would use.
_CANONICAL_BY_CODE: dict[str, str] = {
    "RU": "Russia",
    "GB": "United Kingdom",
    "US": "United States",
    "BN": "Brunei",
    "TR": "Turkey",
    "CD": "Democratic Republic of the Congo",
    "CG": "Republic of the Congo",
    "FM": "Micronesia",
    "PS": "Palestine",
    "VA": "Vatican City",
    "VG": "British Virgin Islands",
    "VI": "US Virgin Islands",
    "CZ": "Czech Republic",
    "CV": "Cape Verde",
    "SZ": "Eswatini",
    "TL": "East Timor",
    "MO": "Macau",
    "HK": "Hong Kong",
}

# Common short forms and spellings (lower case, without a leading "the") -> ISO alpha-2.
ALIASES: dict[str, str] = {
    "u.s.": "US",
    "u.s": "US",
    "us": "US",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.a": "US",
    "america": "US",
    "united states": "US",
    "united states of america": "US",
    "the states": "US",
    "uk": "GB",
    "u.k.": "GB",
    "u.k": "GB",
    "britain": "GB",
    "great britain": "GB",
    "russia": "RU",
    "soviet russia": "RU",
    "south korea": "KR",
    "republic of korea": "KR",
    "rok": "KR",
    "north korea": "KP",
    "dprk": "KP",
    "mainland china": "CN",
    "prc": "CN",
    "iran": "IR",
    "syria": "SY",
    "vietnam": "VN",
    "laos": "LA",
    "burma": "MM",
    "holland": "NL",
    "ivory coast": "CI",
    "uae": "AE",
    "u.a.e.": "AE",
    "emirates": "AE",
    "turkey": "TR",
    "czech republic": "CZ",
    "czechia": "CZ",
    "macedonia": "MK",
    "taiwan": "TW",
    "drc": "CD",
    "dr congo": "CD",
    "east timor": "TL",
    "cape verde": "CV",
    "swaziland": "SZ",
    "vatican": "VA",
    "vatican city": "VA",
    "palestine": "PS",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "brunei": "BN",
    "micronesia": "FM",
    "hong kong": "HK",
    "macau": "MO",
    "macao": "MO",
}

_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)


@functools.cache
def _index() -> dict[str, str]:
    """Lower-cased country name -> canonical name, built once from pycountry and ALIASES."""
    index: dict[str, str] = {}
    for country in pycountry.countries:
        canonical = country_name(country.alpha_2)
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                index[_key(value)] = canonical
        index[_key(canonical)] = canonical
    for alias, code in ALIASES.items():
        index[alias] = country_name(code)
    return index


def _key(name: str) -> str:
    return _LEADING_THE.sub("", " ".join(name.split())).lower()


def country_name(alpha_2: str) -> str:
    """The canonical name of the country with this ISO 3166 alpha-2 code."""
    if alpha_2 in _CANONICAL_BY_CODE:
        return _CANONICAL_BY_CODE[alpha_2]
    country = pycountry.countries.get(alpha_2=alpha_2)
    if country is None:
        raise KeyError(alpha_2)
    return getattr(country, "common_name", None) or country.name


@functools.lru_cache(maxsize=65536)
def canonical_country(name: str) -> str | None:
    """The canonical country name for a way of writing a country ("U.S.", "Russian Federation"), else None."""
    return _index().get(_key(name))


def is_country(name: str) -> bool:
    """True if `name` is some way of writing a country."""
    return canonical_country(name) is not None
