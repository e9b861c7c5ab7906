"""Entity and date extraction scored against the hand-written gold set in eval/gold/extraction.jsonl.

    python -m eval.extraction                  # whole gold set: table, then the misses per passage
    python -m eval.extraction --ids a,b --no-misses
    python -m eval.extraction --json out.json  # the same numbers, machine-readable

Each gold line is one passage: {"id", "published": "YYYY-MM-DD" | null, "text" (or "text_file", a path
relative to the project root), "entities": [{"type": "person|org|place", "name"}], "dates": [ISO value],
"notes"} plus, rarely, "entities_optional" / "dates_optional".

Scoring is set matching per passage, micro-averaged over passages (counts are summed, then P/R/F1 computed):
an entity is (type, canonical name) compared case-insensitively (NFC, whitespace collapsed, curly apostrophes
straightened, nothing else: "Nicolas Maduro" does not match "Nicolás Maduro"); a date is its ISO value at its
precision ("2021-03-22", "2021-W12", "2021-03", "2021"), compared exactly. Several mentions of one entity or
one date in a passage count once.

Gold conventions (what a careful reader marks; the extractor is expected to follow them):
- people by the full name first given in the text, titles and possessives stripped ("President Joe Biden's"
  -> "Joe Biden"; only "President Biden" in the text -> "Biden"); places (GPE and LOC: countries, cities,
  regions, rivers, lakes, seas, continents) by their common English name ("United States" for
  U.S./US/America, "United Kingdom" for Britain/UK); capitals standing for governments ("talks with
  Washington") are still places; organisations by the long form when the text defines an acronym, otherwise
  as written without a leading "the"; nationalities, facilities (stadiums, streets, prisons, telescopes),
  events, laws and products are not marked, nor a place that only occurs inside an organisation's or event's
  name.
- relative dates resolve against "published": a weekday in a past-tense sentence is the latest such day on or
  before publication, in a future-tense one the next on or after it ("said on Friday" published on a Friday
  is that Friday); "next week"/"last week"/"this week" are ISO weeks; "last year" is the previous year; a
  month or day without a year takes the publication year, unless the sentence clearly points past the year
  end (a law that "takes effect on Jan. 1", published in September, is next year's). With "published": null,
  relative dates and dates without a year must not be produced; explicit ones ("March 18, 2021") still must.
- ranges are marked by their start; see the comment on RANGES below.
- "entities_optional" / "dates_optional" hold the few genuinely debatable items (a programme such as "Belt
  and Road Initiative", "Earth", "Downing Street", a range's end): predicting one is neither a hit nor an
  error, missing one is no miss.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchsvc.extract.types import ENTITY_TYPES

# RANGES: a date range in the text ("March 1-5", "June 28-30", "between Nov. 4 and Nov. 12", "between 2014
# and 2019") is marked in "dates" by its START only ("2021-03-01"); its end goes in "dates_optional", so an
# extractor that also emits the end is not penalised for it, and one that emits only the start loses nothing.

ROOT = Path(__file__).resolve().parent.parent
GOLD_PATH = ROOT / "eval" / "gold" / "extraction.jsonl"

CATEGORIES = (*ENTITY_TYPES, "date")
# What the extractor must reach on the whole gold set (F1); shown in the table, not enforced here.
GOALS = {"person": 0.90, "org": 0.80, "place": 0.90, "date": 0.90}

Item = tuple[str, str]  # (category, key): ("place", "united states"), ("date", "2021-W12")


def normalise(name: str) -> str:
    """The comparison key of a name: NFC, lowercased, curly apostrophes straightened, whitespace collapsed."""
    name = unicodedata.normalize("NFC", name).replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", name).strip().lower()


@dataclass
class GoldPassage:
    id: str
    published: dt.date | None
    text: str
    items: set[Item]
    optional: set[Item] = field(default_factory=set)
    display: dict[Item, str] = field(default_factory=dict)  # key -> name as written in the gold file
    notes: str = ""


def _entity_items(entries: Iterable[dict[str, str]], where: str) -> dict[Item, str]:
    out: dict[Item, str] = {}
    for e in entries:
        if e["type"] not in ENTITY_TYPES:
            raise ValueError(f"{where}: unknown entity type {e['type']!r}")
        out[(e["type"], normalise(e["name"]))] = e["name"]
    return out


def load_gold(path: Path | str = GOLD_PATH, ids: Iterable[str] | None = None) -> list[GoldPassage]:
    """The gold passages in file order (only `ids`, if given; an unknown id is an error)."""
    path = Path(path)
    passages = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        raw = json.loads(line)
        if "text_file" in raw:
            text = (ROOT / raw["text_file"]).read_text(encoding="utf-8")
        else:
            text = raw["text"]
        items = _entity_items(raw["entities"], where)
        optional = _entity_items(raw.get("entities_optional", []), where)
        items.update({("date", d): d for d in raw["dates"]})
        optional.update({("date", d): d for d in raw.get("dates_optional", [])})
        passages.append(
            GoldPassage(
                id=raw["id"],
                published=dt.date.fromisoformat(raw["published"]) if raw["published"] else None,
                text=text,
                items=set(items),
                optional=set(optional) - set(items),
                display={**optional, **items},
                notes=raw.get("notes", ""),
            )
        )
    seen: set[str] = set()
    for p in passages:
        if p.id in seen:
            raise ValueError(f"{path.name}: duplicate id {p.id!r}")
        seen.add(p.id)
    if ids is not None:
        wanted = list(ids)
        unknown = [i for i in wanted if i not in seen]
        if unknown:
            raise ValueError(f"{path.name}: unknown ids {unknown}")
        passages = [p for p in passages if p.id in set(wanted)]
    return passages


def predicted_items(extraction: Any) -> tuple[set[Item], dict[Item, str]]:
    """The scored items of one Extraction, each with a readable form (a date with the text it came from)."""
    items: dict[Item, str] = {}
    for e in extraction.entities:
        if e.type in ENTITY_TYPES:
            items.setdefault((e.type, normalise(e.name)), e.name)
    for d in extraction.dates:
        key = ("date", str(d.value))
        source = getattr(d, "text", "")
        items.setdefault(key, f"{d.value} ({source!r})" if source else str(d.value))
    return set(items), items


def default_model() -> str:
    """The configured spaCy model (SEARCHSVC_SPACY_MODEL, else the project default)."""
    from searchsvc.config import load_settings

    return str(load_settings().spacy_model)


def _run(extractor: Any, passages: Sequence[GoldPassage]) -> list[Any]:
    pairs = [(p.text, p.published) for p in passages]
    if hasattr(extractor, "extract_many"):
        return list(extractor.extract_many(pairs, batch_size=32))
    return [extractor.extract(text, published) for text, published in pairs]


def _ordered(items: Iterable[Item]) -> list[Item]:
    return sorted(items, key=lambda i: (CATEGORIES.index(i[0]), i[1]))


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "gold": tp + fn,
        "predicted": tp + fp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def score_extraction(
    gold_path: Path | str = GOLD_PATH, extractor: Any = None, ids: Iterable[str] | None = None
) -> dict[str, Any]:
    """Run `extractor` (an `Extractor`, built from the configured model when None) over the gold passages
    (all, or those in `ids`) and score it.

    Returns {"passages": n, "seconds": s, "scores": {category: {tp, fp, fn, gold, predicted, precision,
    recall, f1}}, "misses": [{"id", "published", "missed": [[category, name]], "spurious": [[category,
    name]]}]}; the categories are person, org, place, date and "entities" (the three entity types together).
    """
    passages = load_gold(gold_path, ids)
    if extractor is None:
        from searchsvc.extract import Extractor

        extractor = Extractor(default_model())
    started = time.perf_counter()
    extractions = _run(extractor, passages)
    seconds = time.perf_counter() - started
    if len(extractions) != len(passages):
        raise RuntimeError(f"extractor returned {len(extractions)} extractions for {len(passages)} passages")

    counts = {c: [0, 0, 0] for c in CATEGORIES}  # tp, fp, fn
    misses = []
    for passage, extraction in zip(passages, extractions, strict=True):
        predicted, shown = predicted_items(extraction)
        hits = predicted & passage.items
        spurious = predicted - passage.items - passage.optional
        missed = passage.items - predicted
        for category, _ in hits:
            counts[category][0] += 1
        for category, _ in spurious:
            counts[category][1] += 1
        for category, _ in missed:
            counts[category][2] += 1
        if spurious or missed:
            misses.append(
                {
                    "id": passage.id,
                    "published": passage.published.isoformat() if passage.published else None,
                    "missed": [[c, passage.display[(c, k)]] for c, k in _ordered(missed)],
                    "spurious": [[c, shown[(c, k)]] for c, k in _ordered(spurious)],
                }
            )
    scores = {c: _prf(*counts[c]) for c in CATEGORIES}
    scores["entities"] = _prf(*(sum(counts[c][i] for c in ENTITY_TYPES) for i in range(3)))
    return {"passages": len(passages), "seconds": seconds, "scores": scores, "misses": misses}


def format_table(result: dict[str, Any]) -> str:
    header = f"{'type':<9}{'gold':>6}{'pred':>6}{'tp':>6}{'fp':>6}{'fn':>6}{'P':>8}{'R':>8}{'F1':>8}   goal"
    lines = [header, "-" * len(header)]
    for category in (*CATEGORIES, "entities"):
        s = result["scores"][category]
        goal = GOALS.get(category)
        verdict = f">= {goal:.2f} {'ok' if s['f1'] >= goal else 'BELOW'}" if goal is not None else ""
        lines.append(
            f"{category:<9}{s['gold']:>6}{s['predicted']:>6}{s['tp']:>6}{s['fp']:>6}{s['fn']:>6}"
            f"{s['precision']:>8.3f}{s['recall']:>8.3f}{s['f1']:>8.3f}   {verdict}"
        )
    return "\n".join(lines)


def format_misses(result: dict[str, Any]) -> str:
    lines = []
    for m in result["misses"]:
        lines.append(f"{m['id']}  (published {m['published'] or 'null'})")
        lines.extend(f"  missed    {c:<7}{name}" for c, name in m["missed"])
        lines.extend(f"  spurious  {c:<7}{name}" for c, name in m["spurious"])
    return "\n".join(lines) if lines else "(no misses)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.extraction", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=GOLD_PATH, help="gold JSONL (default: %(default)s)")
    parser.add_argument("--model", default=None, help="spaCy model (default: the spacy_model setting)")
    parser.add_argument("--ids", default=None, help="comma-separated passage ids to score (default: all)")
    parser.add_argument("--no-misses", action="store_true", help="print only the table")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON to this file")
    args = parser.parse_args(argv)

    model = args.model or default_model()
    from searchsvc.extract import Extractor

    ids = [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None
    try:
        result = score_extraction(args.gold, Extractor(model), ids)
    except (OSError, ValueError, KeyError) as exc:  # a missing file, bad JSON or an unknown id
        parser.error(f"{type(exc).__name__}: {exc}")
    print(
        f"extraction: {result['passages']} gold passages from {args.gold}, model {model}, "
        f"{result['seconds']:.1f} s (micro-averaged over passages)"
    )
    print(format_table(result))
    if not args.no_misses:
        print()
        print(f"misses ({len(result['misses'])} passages with any):")
        print(format_misses(result))
    if args.json:
        args.json.write_text(
            json.dumps({"model": model, **result}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
