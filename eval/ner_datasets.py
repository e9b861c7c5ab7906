"""Entity extraction scored on public NER sets in ../shared/data, beside the raw spaCy pipeline's figures.

    python -m eval.ner_datasets                 # GMB (a sample of pseudo-documents) and WikiGold
    python -m eval.ner_datasets --docs 100      # a smaller GMB sample

The development yardstick for extraction rules: the gold set (eval/gold) is small and hand-made; these are
large, written by others, and scored the same way. Scoring is per document, as eval/extraction.py does it: the
set of (type, name) items of each document, counts summed over documents, then P/R/F1 per type.

- GMB (gmb_ner/ner_dataset.csv, mostly Voice of America news, IOB2): the file marks no document ends, so every
  SENTENCES_PER_DOC consecutive sentences make one pseudo-document; an evenly spaced sample of them is scored.
  per -> person, org -> org, geo -> place. `gpe` (mostly nationality adjectives), `art`, `eve` and `nat` are
  optional: predicting one is neither a hit nor an error.
- WikiGold (wikigold/wikigold.conll.txt, Wikipedia, IO tags): each article one document; PER, ORG, LOC;
  MISC optional.

Alias-aware, as the held-out news set is scored (a name matches when equal, when one is a contiguous run of
the other's words, an acronym of it, or a usual alias): gold and predicted names both go through the same key
(extract/canonical.py's static canonical name, so "U.S." is "United States"; accents, case and dots folded);
within one document, on both sides, a short form that is a run of words or an acronym of exactly one longer
name of its type is that name ("Lavrov" beside "Sergey Lavrov", "Senate" beside "U.S. Senate", "IAEA" beside
"International Atomic Energy Agency"), so that a reader's one entity counts once whether it was written one
way or three; then predicted and gold items pair one to one, equal names first, then matching ones.
The tokens are joined back into text with simple detokenisation rules; the text is what the extractor reads.

"raw spaCy" is the same model's NER alone (PERSON -> person, ORG -> org, GPE/LOC -> place, spans as tagged),
through the same keys: what the extractor's rules add or cost.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.extraction import _prf
from searchsvc.extract.canonical import name_key, static_canonical
from searchsvc.extract.names import TITLE_WORDS, strip_titles
from searchsvc.extract.types import ENTITY_TYPES

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
GMB_PATH = DATA / "gmb_ner" / "ner_dataset.csv"
WIKIGOLD_PATH = DATA / "wikigold" / "wikigold.conll.txt"
SENTENCES_PER_DOC = 20
DEFAULT_DOCS = 300

GMB_TYPES = {"per": "person", "org": "org", "geo": "place"}
GMB_OPTIONAL = frozenset({"gpe", "art", "eve", "nat"})
WIKIGOLD_TYPES = {"PER": "person", "ORG": "org", "LOC": "place"}
WIKIGOLD_OPTIONAL = frozenset({"MISC"})

Item = tuple[str, str]


@dataclass
class NerDocument:
    id: str
    text: str
    mentions: list[tuple[str, str]] = field(default_factory=list)  # (tag, name) as tagged
    optional: list[str] = field(default_factory=list)  # names tagged with an optional tag


_NO_SPACE_BEFORE = frozenset(",.;:!?)]}%'") | {"'s", "n't", "'re", "'ve", "'ll", "'d", "'m", "''"}
_NO_SPACE_AFTER = frozenset("([{$") | {"``"}


def detokenise(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Text from tokens, and each token's character span in it."""
    out: list[str] = []
    spans = []
    pos = 0
    previous = ""
    for token in tokens:
        if out and token not in _NO_SPACE_BEFORE and previous not in _NO_SPACE_AFTER:
            out.append(" ")
            pos += 1
        spans.append((pos, pos + len(token)))
        out.append(token)
        pos += len(token)
        previous = token
    return "".join(out), spans


def _runs(tags: Sequence[str], iob2: bool) -> Iterator[tuple[int, int, str]]:
    """(first token, end token, type) of each tagged run."""
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        continues = label == kind and (prefix == "I" if iob2 else True) and tag != "O"
        if start >= 0 and not continues:
            yield start, i, kind
            start, kind = -1, ""
        if tag != "O" and start < 0:
            start, kind = i, label


def _document(
    doc_id: str,
    sentences: list[tuple[list[str], list[str]]],
    iob2: bool,
    types: dict[str, str],
    optional: frozenset[str],
) -> NerDocument:
    texts, mentions, optional_names = [], [], []
    for tokens, tags in sentences:
        text, spans = detokenise(tokens)
        texts.append(text)
        for a, b, kind in _runs(tags, iob2):
            name = text[spans[a][0] : spans[b - 1][1]]
            if kind in types:
                mentions.append((types[kind], name))
            elif kind in optional:
                optional_names.append(name)
    return NerDocument(doc_id, " ".join(texts) if iob2 else "\n".join(texts), mentions, optional_names)


def read_gmb(path: Path = GMB_PATH, docs: int = DEFAULT_DOCS, per_doc: int = SENTENCES_PER_DOC) -> list[NerDocument]:
    """An evenly spaced sample of `docs` pseudo-documents of `per_doc` consecutive GMB sentences."""
    sentences: list[tuple[list[str], list[str]]] = []
    with open(path, encoding="cp1252", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            if row[0]:
                sentences.append(([], []))
            sentences[-1][0].append(row[1])
            sentences[-1][1].append(row[3])
    sentences.pop()  # the last sentence was cut with the file
    total = len(sentences) // per_doc
    step = max(1, total // docs) if docs else 1
    picked = list(range(0, total, step))[:docs] if docs else list(range(total))
    return [
        _document(f"gmb-{n}", sentences[n * per_doc : (n + 1) * per_doc], True, GMB_TYPES, GMB_OPTIONAL) for n in picked
    ]


def read_wikigold(path: Path = WIKIGOLD_PATH) -> list[NerDocument]:
    """The 145 WikiGold articles, one document each."""
    articles: list[list[tuple[list[str], list[str]]]] = [[]]
    sentence: tuple[list[str], list[str]] = ([], [])
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            if sentence[0]:
                articles[-1].append(sentence)
            sentence = ([], [])
            if articles[-1]:
                articles.append([])
            continue
        if not line.strip():
            if sentence[0]:
                articles[-1].append(sentence)
            sentence = ([], [])
            continue
        token, _, tag = line.rpartition(" ")
        sentence[0].append(token)
        sentence[1].append(tag)
    if sentence[0]:
        articles[-1].append(sentence)
    return [
        _document(f"wikigold-{n}", a, False, WIKIGOLD_TYPES, WIKIGOLD_OPTIONAL) for n, a in enumerate(articles) if a
    ]


# -- keys ----------------------------------------------------------------------------------------------------
_THE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"\s*['\u2019]s?$")


def item_key(kind: str, name: str) -> str:
    """The comparison key of one (type, name): a person's titles ("President", "Mr") and the static canonical
    name ("U.S." -> "United States") as the gold set's conventions say, "the" and a possessive dropped, folded."""
    name = _POSSESSIVE.sub("", _THE.sub("", name.strip()))
    if kind == "person":
        name = strip_titles(name)[0]
        if name.split() and name.split()[0].lower().rstrip(".") in TITLE_WORDS:
            return ""  # a title alone ("Prime" of "Prime Minister")
    return name_key(static_canonical(name, kind) or name)  # type: ignore[arg-type]


_INITIAL_SKIP = frozenset("of the and for & de la du des in on at to".split())


def _is_run(short: str, long: str) -> bool:
    """Whether the words of `short` are a contiguous run of the words of `long` ("senate" in "us senate")."""
    a, b = short.split(), long.split()
    return len(a) < len(b) and any(b[i : i + len(a)] == a for i in range(len(b) - len(a) + 1))


def _is_acronym_of(short: str, long: str) -> bool:
    """Whether one-word `short` spells the initials of `long` ("iaea", "international atomic energy agency"),
    with or without its small words."""
    words = long.split()
    if " " in short or not 2 <= len(short) <= 8 or len(words) < 2:
        return False
    every = "".join(w[0] for w in words)
    content = "".join(w[0] for w in words if w not in _INITIAL_SKIP)
    return short in (every, content)


def names_match(a: str, b: str) -> bool:
    """Two keys of one type name one thing: equal, one a contiguous run of the other's words, or an acronym
    of it (the held-out set's rule; see the module docstring)."""
    return a == b or _is_run(a, b) or _is_run(b, a) or _is_acronym_of(a, b) or _is_acronym_of(b, a)


def document_items(pairs: Iterable[tuple[str, str]]) -> set[Item]:
    """The (type, key) items of one document, each short form folded into the one longer name of its type that
    it is a run of or an acronym of ("Lavrov" into "Sergey Lavrov", "Senate" into "U.S. Senate", "IAEA"
    into "International Atomic Energy Agency"); kept when it could be two."""
    items = {(kind, item_key(kind, name)) for kind, name in pairs if kind in ENTITY_TYPES and name.strip()}
    items = {(k, n) for k, n in items if n}
    out: set[Item] = set()
    for kind, key in items:
        longer = [n for k, n in items if k == kind and n != key and (_is_run(key, n) or _is_acronym_of(key, n))]
        out.add((kind, longer[0] if len(longer) == 1 else key))
    return out


def match_items(predicted: set[Item], gold: set[Item]) -> tuple[set[Item], set[Item], set[Item]]:
    """(hits, spurious, missed): equal items pair first, then one-to-one pairs of a type whose names match
    (names_match); a hit is counted under its predicted item."""
    hits = predicted & gold
    left_p, left_g = sorted(predicted - hits), sorted(gold - hits)
    for p in left_p:
        for g in left_g:
            if p[0] == g[0] and names_match(p[1], g[1]):
                hits.add(p)
                left_g.remove(g)
                break
    return hits, predicted - hits, set(left_g)


# -- scoring -------------------------------------------------------------------------------------------------
Predictor = Callable[[list[str]], list[list[tuple[str, str]]]]


def extractor_predictor(extractor: Any) -> Predictor:
    def predict(texts: list[str]) -> list[list[tuple[str, str]]]:
        return [[(e.type, e.name) for e in x.entities] for x in extractor.extract_many([(t, None) for t in texts])]

    return predict


_RAW_TYPES = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place"}


def raw_spacy_predictor(nlp: Any) -> Predictor:
    """The model's NER alone, spans as tagged."""

    def predict(texts: list[str]) -> list[list[tuple[str, str]]]:
        docs = nlp.pipe(texts, batch_size=32, disable=["tok2vec", "tagger", "parser"])
        return [[(_RAW_TYPES[e.label_], e.text) for e in doc.ents if e.label_ in _RAW_TYPES] for doc in docs]

    return predict


def score(documents: Sequence[NerDocument], predict: Predictor) -> dict[str, Any]:
    """Per type and overall P/R/F1, summed over documents."""
    started = time.perf_counter()
    predictions = predict([d.text for d in documents])
    seconds = time.perf_counter() - started
    counts: dict[str, list[int]] = {c: [0, 0, 0] for c in ENTITY_TYPES}
    for doc, predicted_pairs in zip(documents, predictions, strict=True):
        gold = document_items(doc.mentions)
        optional = {(k, item_key(k, n)) for n in doc.optional for k in ENTITY_TYPES}
        predicted = document_items(predicted_pairs)
        hits, spurious, missed = match_items(predicted, gold)
        for kind, _ in hits:
            counts[kind][0] += 1
        for kind, _ in spurious - optional:
            counts[kind][1] += 1
        for kind, _ in missed:
            counts[kind][2] += 1
    scores: dict[str, dict[str, float | int]] = {c: _prf(*counts[c]) for c in ENTITY_TYPES}
    scores["entities"] = _prf(*(sum(counts[c][i] for c in ENTITY_TYPES) for i in range(3)))
    return {"documents": len(documents), "seconds": seconds, "scores": scores}


def format_side_by_side(name: str, ours: dict[str, Any], raw: dict[str, Any]) -> str:
    header = f"{name:<10}{'gold':>6}{'P':>8}{'R':>8}{'F1':>8}   raw spaCy {'P':>6}{'R':>8}{'F1':>8}"
    lines = [header, "-" * len(header)]
    for category in (*ENTITY_TYPES, "entities"):
        s, r = ours["scores"][category], raw["scores"][category]
        lines.append(
            f"{category:<10}{s['gold']:>6}{s['precision']:>8.3f}{s['recall']:>8.3f}{s['f1']:>8.3f}"
            f"   {'':>9} {r['precision']:>6.3f}{r['recall']:>8.3f}{r['f1']:>8.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.ner_datasets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=DEFAULT_DOCS, help="GMB pseudo-documents (default %(default)s)")
    parser.add_argument("--model", default=None, help="spaCy model (default: the spacy_model setting)")
    args = parser.parse_args(argv)
    sets = []
    if GMB_PATH.exists():
        sets.append((f"GMB ({args.docs} x {SENTENCES_PER_DOC} sentences)", read_gmb(docs=args.docs)))
    if WIKIGOLD_PATH.exists():
        sets.append(("WikiGold (145 articles)", read_wikigold()))
    if not sets:
        print(f"ner datasets: nothing found under {DATA}; skipped")
        return 2
    from eval.extraction import default_model
    from searchsvc.extract import Extractor

    extractor = Extractor(args.model or default_model())
    for title, documents in sets:
        ours = score(documents, extractor_predictor(extractor))
        raw = score(documents, raw_spacy_predictor(extractor.nlp))
        print(f"extraction on {title}: {ours['seconds']:.1f} s (raw spaCy {raw['seconds']:.1f} s)")
        print(format_side_by_side("type", ours, raw))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
