"""The one canonicaliser (extract/canonical.py) and the index's alias table (index/schema.py, search/aliases.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from searchsvc.documents import Document
from searchsvc.extract.canonical import keyword_term, name_key, static_canonical
from searchsvc.extract.types import Entity, Extraction
from searchsvc.index.schema import KEY_SEP, alias_terms, document_fields, document_from_stored, locate


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Nicolás Maduro", "nicolas maduro"),
        ("U.S.", "us"),
        ("NICOLÁS  MADURO", "Nicolas Maduro"),
        ("O’Neill", "o'neill"),
    ],
)
def test_name_key_folds_accents_case_dots_and_spaces(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


@given(st.text(max_size=30))
def test_name_key_is_idempotent(text: str) -> None:
    assert name_key(name_key(text)) == name_key(text)


def test_static_canonical_names() -> None:
    assert static_canonical("U.S.", "place") == static_canonical("us", "place") == "United States"
    assert static_canonical("nato", "org") == "North Atlantic Treaty Organization"
    assert static_canonical("us", "person") is None
    assert static_canonical("Reagan", "person") is None


def test_alias_terms_hold_every_surface_form_and_the_canonical_name() -> None:
    entity = Entity("United States", "place", 3, aliases=("U.S.", "US"))
    assert alias_terms([entity]) == [
        f"place{KEY_SEP}united states{KEY_SEP}united states",
        f"place{KEY_SEP}us{KEY_SEP}united states",
    ]
    assert keyword_term("Smith, John") == "smith john"


def test_offsets_survive_storage_and_older_records_still_load() -> None:
    doc = Document(id="d", title="Wang Yi in Alaska", body="Wang Yi met Blinken.")
    text = "Wang Yi in Alaska\n\nWang Yi met Blinken."
    spans = ((0, 7), (19, 26))
    assert [locate(doc, a, b) for a, b in spans] == [("title", 0, 7), ("body", 0, 7)]
    extraction = Extraction(entities=(Entity("Wang Yi", "person", 2, aliases=("Wang Yi",), spans=spans),))
    fields = document_fields(doc, extraction, path="", content_hash="")
    _, back = document_from_stored(fields)
    assert back.entities[0].spans == spans and back.entities[0].aliases == ("Wang Yi",)
    assert [text[a:b] for a, b in back.entities[0].spans] == ["Wang Yi", "Wang Yi"]
    # Schema 6 stored [type, name, mentions] and [value, precision, text]: still readable for a rebuild.
    old = {**fields, "entities_json": [["person", "Wang Yi", 2]], "dates_json": [["2021", "year", "2021"]]}
    _, back = document_from_stored(old)
    assert back.entities == (Entity("Wang Yi", "person", 2),) and back.entities[0].spans == ()
    assert back.dates[0].value == "2021" and back.dates[0].spans == ()
