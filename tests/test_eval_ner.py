"""The public-NER-set scorer (eval/ner_datasets.py): reading, detokenising, alias-aware keys, scoring."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from eval.ner_datasets import (  # noqa: E402
    NerDocument,
    _document,
    detokenise,
    document_items,
    item_key,
    names_match,
    read_wikigold,
    score,
)


def test_detokenise_spans():
    text, spans = detokenise(["Mr", "Bush", "'s", "visit", "to", "the", "U.S.", ",", "he", "said", "."])
    assert text == "Mr Bush's visit to the U.S., he said."
    assert text[slice(*spans[6])] == "U.S."


def test_iob2_runs_make_names_and_optional_tags():
    doc = _document(
        "d",
        [
            (
                ["President", "George", "Bush", "met", "British", "officials", "in", "London"],
                ["B-per", "I-per", "I-per", "O", "B-gpe", "O", "O", "B-geo"],
            )
        ],
        True,
        {"per": "person", "geo": "place"},
        frozenset({"gpe"}),
    )
    assert doc.mentions == [("person", "President George Bush"), ("place", "London")]
    assert doc.optional == ["British"]


def test_keys_are_alias_aware():
    assert item_key("place", "U.S.") == item_key("place", "United States") == "united states"
    assert item_key("person", "President Bush") == "bush"
    assert item_key("person", "Nicolás Maduro") == "nicolas maduro"
    assert item_key("org", "NATO") == "north atlantic treaty organization"
    # "Lavrov" beside "Sergey Lavrov" is one person.
    assert document_items([("person", "Sergey Lavrov"), ("person", "Lavrov")]) == {("person", "sergey lavrov")}


def test_score_counts_per_document_and_ignores_optional():
    docs = [NerDocument("a", "text", [("person", "Ann Lee"), ("place", "Paris")], ["French"])]
    result = score(docs, lambda texts: [[("person", "Lee"), ("person", "Ann Lee"), ("place", "French")]])
    assert result["scores"]["person"]["tp"] == 1 and result["scores"]["person"]["fp"] == 0
    assert result["scores"]["place"]["fn"] == 1 and result["scores"]["place"]["fp"] == 0


def test_wikigold_reads_as_articles(tmp_path):
    path = tmp_path / "w.txt"
    path.write_text("John I-PER\nSmith I-PER\nvisited O\nParis I-LOC\n\n-DOCSTART- O\n\nACME I-ORG\n-DOCSTART- O\n")
    docs = read_wikigold(path)
    assert [d.mentions for d in docs] == [[("person", "John Smith"), ("place", "Paris")], [("org", "ACME")]]


def test_short_forms_fold_into_their_one_long_name_on_both_sides() -> None:
    # A short form that is a run of words or an acronym of one longer name of its type counts once.
    assert document_items([("org", "U.S. Senate"), ("org", "Senate")]) == {("org", "us senate")}
    iaea = [("org", "International Atomic Energy Agency"), ("org", "IAEA")]
    assert document_items(iaea) == {("org", "international atomic energy agency")}
    # Two longer names it could be: kept apart.
    assert len(document_items([("person", "Yang Jin"), ("person", "Yang Chuang"), ("person", "Yang")])) == 3


def test_matching_names_pair_one_to_one() -> None:
    docs = [NerDocument("a", "t", [("org", "IAEA"), ("org", "Senate"), ("org", "State Department")])]
    result = score(docs, lambda texts: [[("org", "International Atomic Energy Agency"), ("org", "U.S. Senate")]])
    org = result["scores"]["org"]
    assert (org["tp"], org["fp"], org["fn"]) == (2, 0, 1)
    assert not names_match("army", "navy") and names_match("army", "national liberation army")
