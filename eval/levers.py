"""Leave-one-collection-out choice of the ranking's levers, and plain BM25 beside the service.

    python -m eval.levers                      # plain BM25 vs the defaults, then the LOO tables after and before
    python -m eval.levers --levers k1/b --around current

Every setting is one run of every judged query of the five collections through `SearchService.search`
(eval.ranking.run_queries) with the lever patched in; runs are cached in eval/work/levers-runs.json by the
setting and the index key, so a rerun only scores. Query-time levers (k1/b, query stopwords, feedback, the
`auto` rule, the entity weight) search the indexes eval.ranking built; index-time levers (stemmer, title weight)
search a copy re-analysed from the stored documents and extractions (eval.ranking.reanalyse: seconds, no
entity extraction). From nothing (indexes and runs) it takes about 40 minutes on 2 cores; with the cache, a
minute (plain BM25 and the scoring).

For each lever, and each collection in turn: the value with the best mean nDCG@10 over the other four is
chosen, and the left-out collection is scored with it. The table puts that left-out score beside the
default's, varied once around the current defaults ("after") and once around those before issue 21's second
round (BEFORE). A lever earns a change of default only if its left-out average beats the default's and no
collection loses more than MAX_LOSS (the verdict column).

"Plain BM25" is computed here, outside Whoosh (numpy): title + body once, the project's text analyzer (or another
one for the index-time comparison), all query words OR-ed (a repeated word counts again, as in bm25s), k1 1.5,
b 0.75, Lucene's IDF: no field weights, no feedback, no entity field. The service's default run is compared to
it per query with a paired randomisation test (sign flips of the per-query differences).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from eval.ranking import (
    COLLECTIONS,
    DATA_DIR,
    MEASURES,
    REFERENCE,
    WORK_DIR,
    Collection,
    Run,
    build_index,
    index_key,
    load_collection,
    plain_text,
    reanalyse,
    run_queries,
    score,
)

MAX_LOSS = 0.01  # nDCG@10 a changed default may cost any one collection
PERMUTATIONS = 10_000
RUNS_CACHE = WORK_DIR / "levers-runs.json"
LATER_FIELDS = {"fb_chars": 5000, "fb_model": "bo1"}  # Setting fields added later, and the value runs cached before had


@dataclass(frozen=True)
class Setting:
    """Ranking settings; the defaults are the service's (schema.py, service.py, query.py). `stemmer` and
    `title_weight` are index-time: a setting that changes them searches a re-analysed copy of the index."""

    stemmer: str = "snowball"
    title_weight: int = 2
    stopwords: str = "project"
    k1: float = 1.5
    b: float = 0.75
    feedback: bool = True
    fb_docs: int = 10
    fb_terms: int = 20
    fb_weight: float = 0.3
    fb_chars: int = 1500
    fb_model: str = "rm3"
    match: str = "auto"
    entity: float = 0.25
    all_words_boost: float = 4.0

    def label(self, base: Setting | None = None) -> str:
        """What differs from `base` (default: the Setting defaults)."""
        default = base or Setting()
        changed = [f"{k}={v}" for k, v in vars(self).items() if v != getattr(default, k)]
        return ",".join(changed) or "default"


# The defaults before issue 21's second round (commit c70955e), for the "before" table (--before).
BEFORE = Setting(stemmer="porter", fb_chars=5000, fb_model="bo1")


def current_defaults() -> Setting:
    """The service's settings as the code has them now."""
    from searchsvc.index import schema
    from searchsvc.search import query, service

    return Setting(
        stemmer=schema.STEMMER,
        title_weight=schema.TITLE_WEIGHT,
        stopwords="project",
        k1=service.WEIGHTING.K1,
        b=service.WEIGHTING.B,
        feedback=True,
        fb_docs=service.FEEDBACK_DOCS,
        fb_terms=service.FEEDBACK_TERMS,
        fb_weight=service.FEEDBACK_WEIGHT,
        fb_chars=service.FEEDBACK_CHARS,
        fb_model=service.FEEDBACK_MODEL,
        match="auto",
        entity=query.DEFAULT_FIELDS.get("entity", 0.0),
        all_words_boost=query.ALL_WORDS_BOOST,
    )


def levers(base: Setting) -> dict[str, list[Setting]]:
    """Each lever's candidate values, the others held at `base`. Anserini's published defaults are among them:
    BM25 k1 0.9 b 0.4; RM3 fb_docs 10, fb_terms 10, original query weight 0.5."""

    def vary(**options: list[Any]) -> list[Setting]:
        (name, values), *rest = options.items()
        out = [Setting(**(vars(base) | {name: v})) for v in values]
        for other in rest:  # joint grids: every combination
            out = [Setting(**(vars(s) | {other[0]: v})) for s in out for v in other[1]]
        return out

    return {
        "stemmer": vary(stemmer=["porter", "snowball"]),
        "stopwords": vary(stopwords=["project", "whoosh", "spacy"]),
        "title weight": vary(title_weight=[1, 2]),
        "k1/b": [Setting(**(vars(base) | {"k1": k1, "b": b})) for k1, b in [(0.9, 0.4), (1.2, 0.75), (1.5, 0.75)]],
        "feedback": vary(feedback=[False, True]),
        "fb_docs/terms": vary(fb_docs=[5, 10], fb_terms=[10, 20]),
        "fb_weight": vary(fb_weight=[0.2, 0.3, 0.5]),
        "fb_model": vary(fb_model=["bo1", "rm3"]),
        "fb_chars": vary(fb_chars=[1500, 5000]),
        "match": vary(match=["auto", "any"]),
        "entity": vary(entity=[0.0, 0.25]),
    }


def stopword_list(name: str) -> frozenset[str]:
    """The query-side stopword lists measured: the project's (Whoosh's list and NLTK's, query.py), Whoosh's
    alone, and the project's with spaCy's English list added (326 words, "used", "show" and "first" among them);
    "us" is never one (U.S.)."""
    from spacy.lang.en.stop_words import STOP_WORDS as SPACY
    from whoosh.analysis import STOP_WORDS as WHOOSH

    from searchsvc.search.query import STOPWORDS

    lists = {"project": STOPWORDS, "whoosh": frozenset(WHOOSH), "spacy": STOPWORDS | SPACY}
    return frozenset(lists[name] - {"us"})


@contextmanager
def patched(setting: Setting) -> Iterator[None]:
    """The service's module constants set to `setting` while the block runs (a service created inside)."""
    from searchsvc.index import schema
    from searchsvc.search import query, service

    stopwords = stopword_list(setting.stopwords)
    stemfn = schema.STEMMERS[setting.stemmer]
    fields = {k: v for k, v in query.DEFAULT_FIELDS.items() if k != "entity"}
    if setting.entity:
        fields["entity"] = setting.entity
    with ExitStack() as stack:
        enter = stack.enter_context
        enter(mock.patch.object(service, "WEIGHTING", service.BM25(K1=setting.k1, B=setting.b)))
        enter(mock.patch.object(service, "FEEDBACK_DOCS", setting.fb_docs))
        enter(mock.patch.object(service, "FEEDBACK_TERMS", setting.fb_terms))
        enter(mock.patch.object(service, "FEEDBACK_WEIGHT", setting.fb_weight))
        enter(mock.patch.object(service, "FEEDBACK_CHARS", setting.fb_chars))
        enter(mock.patch.object(service, "FEEDBACK_MODEL", setting.fb_model))
        enter(mock.patch.object(query, "DEFAULT_FIELDS", fields))
        enter(mock.patch.object(query, "ALL_WORDS_BOOST", setting.all_words_boost))
        enter(mock.patch.object(query, "STOPWORDS", stopwords))
        stopword_stems = frozenset(stemfn(service.normalise(w)) for w in stopwords)
        enter(mock.patch.object(service, "_STOPWORD_STEMS", stopword_stems))
        if not setting.feedback:
            enter(mock.patch.object(service, "_feedback_terms", lambda *args, **kwargs: ()))
        yield


# -- runs ----------------------------------------------------------------------------------------------------
def variant_index(base: Path, setting: Setting, log: Callable[[str], None]) -> Path:
    """The index to search for `setting`: `base` (built with today's schema.py) when its index-time levers are
    the schema's, else a copy of `base` re-analysed with them (cached beside it)."""
    from searchsvc.index import schema
    from searchsvc.index.store import IndexStore

    if (setting.stemmer, setting.title_weight) == (schema.STEMMER, schema.TITLE_WEIGHT):
        return base
    target = base.parent.parent / f"{base.parent.name}-{setting.stemmer}-title{setting.title_weight}" / "index"
    if IndexStore(target).read_marker(any_version=True) is None:
        with (
            mock.patch.object(schema, "STEMMER", setting.stemmer),
            mock.patch.object(schema, "TITLE_WEIGHT", setting.title_weight),
        ):
            reanalyse(base, target, log=log)
    return target


class Runs:
    """Per-query nDCG@10, AP@100 and R@100 of each (collection, setting), cached on disk."""

    def __init__(self, collections: dict[str, Collection], model: str, log: Callable[[str], None]) -> None:
        self.collections = collections
        self.log = log
        self.index_dirs = {name: build_index(c, model=model, log=log) for name, c in collections.items()}
        self.keys = {name: index_key(c, model) for name, c in collections.items()}
        self.cache: dict[str, Any] = json.loads(RUNS_CACHE.read_text()) if RUNS_CACHE.exists() else {}

    def per_query(self, name: str, setting: Setting) -> dict[str, dict[str, float]]:
        # Fields added after runs were cached leave the key when at the value those runs had.
        fields = {k: v for k, v in vars(setting).items() if LATER_FIELDS.get(k, ...) != v}
        key = f"{name}|{self.keys[name]}|{json.dumps(fields, sort_keys=True)}"
        if key not in self.cache:
            collection = self.collections[name]
            index_dir = variant_index(self.index_dirs[name], setting, self.log)
            with patched(setting):
                result = run_queries(index_dir, collection.judged, match=setting.match)
            self.log(f"{name} {setting.label()}: {result.seconds:.1f} s")
            self.cache[key] = score(collection.qrels, result.run)["per_query"]
            RUNS_CACHE.write_text(json.dumps(self.cache))
        return self.cache[key]

    def mean(self, name: str, setting: Setting, measure: str = "nDCG@10") -> float:
        values = self.per_query(name, setting)[measure]
        return sum(values.values()) / len(values)


# -- leave one collection out --------------------------------------------------------------------------------
@dataclass
class LeftOut:
    lever: str
    collection: str
    chosen: Setting
    score: float  # the left-out collection's nDCG@10 with the value chosen on the other four
    default: float  # ... with the current default


def leave_one_out(runs: Runs, lever: str, candidates: Sequence[Setting], default: Setting) -> list[LeftOut]:
    names = list(runs.collections)
    out = []
    for held in names:
        others = [n for n in names if n != held]
        # Ties go to the earlier candidate: the lists put the published defaults first where there is one.
        best = max(candidates, key=lambda s: sum(runs.mean(n, s) for n in others) / len(others))
        out.append(LeftOut(lever, held, best, runs.mean(held, best), runs.mean(held, default)))
    return out


def verdict(left: Sequence[float], default: Sequence[float], diffs: Sequence[float]) -> str:
    """The rule of issue 21: a lever earns a change if its left-out mean beats the default's and no collection
    loses more than MAX_LOSS."""
    if sum(left) <= sum(default) + 1e-9:
        return "keep the default"
    return "change" if min(diffs) >= -MAX_LOSS - 1e-9 else f"keep the default (a loss past {MAX_LOSS})"


def format_loo(results: dict[str, list[LeftOut]], names: Sequence[str], base: Setting) -> str:
    short = {n: n[:9] for n in names}
    header = f"{'lever':<14}{'':<9}" + "".join(f"{short[n]:>10}" for n in names) + f"{'mean':>8}{'worst':>8}   verdict"
    lines = [header, "-" * len(header)]
    for lever, rows in results.items():
        by = {r.collection: r for r in rows}
        left = [by[n].score for n in names]
        default = [by[n].default for n in names]
        diffs = [a - b for a, b in zip(left, default, strict=True)]
        lines.append(
            f"{lever:<14}{'left-out':<9}"
            + "".join(f"{v:>10.3f}" for v in left)
            + f"{sum(left) / len(left):>8.3f}{min(diffs):>+8.3f}   {verdict(left, default, diffs)}"
        )
        lines.append(
            f"{'':<14}{'default':<9}" + "".join(f"{v:>10.3f}" for v in default) + f"{sum(default) / len(default):>8.3f}"
        )
        lines.append(f"{'':<14}{'chosen':<9}" + "".join(f"{by[n].chosen.label(base)[:9]:>10}" for n in names))
    return "\n".join(lines)


# -- plain BM25 ----------------------------------------------------------------------------------------------
def plain_bm25(
    collection: Collection,
    analyze: Callable[[str], list[str]],
    *,
    k1: float = 1.5,
    b: float = 0.75,
    depth: int = 100,
) -> Run:
    """BM25 with Lucene's IDF over title + body (once each), every query word OR-ed (repeats count again)."""
    import numpy as np

    docs = [analyze(f"{d['title']} {d['body']}") for d in collection.docs]
    ids = [d["id"] for d in collection.docs]
    lengths = np.array([len(t) for t in docs], dtype=float)
    avgdl = lengths.mean()
    postings: dict[str, list[tuple[int, int]]] = {}
    for i, tokens in enumerate(docs):
        for term, tf in Counter(tokens).items():
            postings.setdefault(term, []).append((i, tf))
    n_docs = len(docs)
    norm = k1 * (1 - b + b * lengths / avgdl)
    run: Run = {}
    for qid, text in collection.judged.items():
        scores = np.zeros(n_docs)
        for term in analyze(plain_text(text)):
            plist = postings.get(term)
            if not plist:
                continue
            idf = math.log(1 + (n_docs - len(plist) + 0.5) / (len(plist) + 0.5))
            rows = np.array([p[0] for p in plist])
            tfs = np.array([p[1] for p in plist], dtype=float)
            scores[rows] += idf * tfs * (k1 + 1) / (tfs + norm[rows])
        top = np.argsort(-scores, kind="stable")[:depth]
        run[qid] = {ids[i]: float(scores[i]) for i in top if scores[i] > 0}
    return run


def project_analyzer() -> Callable[[str], list[str]]:
    from searchsvc.index.schema import text_analyzer

    analyzer = text_analyzer()
    return lambda text: [t.text for t in analyzer(text)]


def randomisation_p(a: Sequence[float], b: Sequence[float], permutations: int = PERMUTATIONS) -> float:
    """Two-sided p of a paired randomisation test: how often randomly swapping each query's pair gives a mean
    difference at least as large as the observed one."""
    import numpy as np

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not diff.any():
        return 1.0
    rng = np.random.default_rng(21)
    signs = rng.choice([-1.0, 1.0], size=(permutations, len(diff)))
    observed = abs(diff.mean())
    extreme = np.count_nonzero(np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12)
    return float((extreme + 1) / (permutations + 1))


def format_comparison(
    names: Sequence[str],
    plain: dict[str, dict[str, dict[str, float]]],
    service: dict[str, dict[str, dict[str, float]]],
    labels: tuple[str, str] = ("plain BM25", "service"),
) -> str:
    header = f"{'collection':<16}{'measure':<9}{labels[0]:>11}{labels[1]:>9}{'diff':>8}{'p':>8}   reference"
    lines = [header, "-" * len(header)]
    for n in names:
        for m in MEASURES:
            qids = sorted(plain[n][m])
            a = [service[n][m][q] for q in qids]
            p = [plain[n][m][q] for q in qids]
            ma, mp = sum(a) / len(a), sum(p) / len(p)
            ref = f"{REFERENCE[n][1]:.3f} {REFERENCE[n][0]}" if m == "nDCG@10" else ""
            lines.append(
                f"{n if m == MEASURES[0] else '':<16}{m:<9}{mp:>11.3f}{ma:>9.3f}{ma - mp:>+8.3f}"
                f"{randomisation_p(a, p):>8.4f}   {ref}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.levers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--levers", default="", help="comma-separated lever names (default: all)")
    parser.add_argument("--json", default=None, help="also write the tables' numbers as JSON here")
    parser.add_argument(
        "--around",
        choices=("current", "before", "both"),
        default="both",
        help="vary each lever around the current defaults, those before issue 21's second round (BEFORE), or both",
    )
    args = parser.parse_args(argv)
    from searchsvc.config import SETTINGS

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    model = next(s.default for s in SETTINGS if s.name == "spacy_model")
    names = [n.strip() for n in args.collections.split(",") if n.strip()]
    collections = {n: load_collection(n, DATA_DIR) for n in names}
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    runs = Runs(collections, model, log)
    default = current_defaults()
    analyze = project_analyzer()
    plain = {n: score(c.qrels, plain_bm25(c, analyze))["per_query"] for n, c in collections.items()}
    service = {n: runs.per_query(n, default) for n in names}
    print("Plain BM25 (the project's analyzer, k1 1.5, b 0.75, Lucene IDF) vs the service's defaults")
    print(format_comparison(names, plain, service))
    print()
    before = {n: runs.per_query(n, BEFORE) for n in names}
    print("The defaults before issue 21's second round (BEFORE) vs now")
    print(format_comparison(names, before, service, ("before", "now")))
    print()
    bases = {"after": default, "before": BEFORE}
    if args.around != "both":
        bases = {"after": default} if args.around == "current" else {"before": BEFORE}
    tables = {}
    for label, base in bases.items():
        all_levers = levers(base)
        chosen = [x.strip() for x in args.levers.split(",") if x.strip()] or list(all_levers)
        tables[label] = {lever: leave_one_out(runs, lever, all_levers[lever], base) for lever in chosen}
        around = "the current defaults" if label == "after" else "the defaults before issue 21's second round"
        print(f"Leave one collection out ({label}), nDCG@10, each lever varied alone around {around}:")
        print(format_loo(tables[label], names, base))
        print()
    if args.json:
        data = {
            "default": vars(default),
            "loo": {
                label: {
                    lever: [
                        {"collection": r.collection, "chosen": vars(r.chosen), "score": r.score, "default": r.default}
                        for r in rows
                    ]
                    for lever, rows in results.items()
                }
                for label, results in tables.items()
            },
            "means": {
                n: {
                    "plain": {m: sum(v.values()) / len(v) for m, v in plain[n].items()},
                    "service": {m: sum(v.values()) / len(v) for m, v in service[n].items()},
                }
                for n in names
            },
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
