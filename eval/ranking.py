"""Ranking quality on the classic test collections in ../shared/data (cranfield, cisi, med, time,
cystic_fibrosis).

    python -m eval.ranking                        # all five: a table per collection and a summary
    python -m eval.ranking --collections med      # one of them
    python -m eval.ranking --rebuild --json out.json

Each collection's documents are written as the project's JSONL input ({"id", "title", "body"}) and indexed
through the project's own loaders, extraction and indexer (`index_paths`, 2 extraction workers). The built
index is kept under eval/work/, keyed by collection and a hash of what decides its contents (the documents,
SCHEMA_VERSION, EXTRACTION_VERSION, the spaCy model and schema.py itself), so a rerun only searches.

Every judged query goes through `SearchService.search` -- what GET /search calls -- with the service's default
settings, built from parameters validated by the API's own request schema, like
`GET /search?q=<text>&limit=100&highlight=false`. The queries are questions in plain English; before
searching, `plain_text` turns what the query language would read as syntax (quotes, parentheses, a leading
"-", "field:", "*", "?") into spaces, as a user's plain text would need (`--raw` searches the text as is and
reports what the parser rejects). Scores are nDCG@10 (graded gains where the collection has grades),
AP@100 (MAP@100) and R@100, computed by ir_measures.

Collections (formats from ../shared/data/README.md):
- cranfield: cran.all.1400 (SMART .I/.T/.A/.B/.W), cran.qry (queries numbered 1..225 by position; the .I
  numbers have gaps), cranqrel "qid docid grade" with grade 1 (complete answer) .. 4 (minimum interest);
  -1 is dropped, and grade g becomes gain 5 - g (1 -> 4 .. 4 -> 1).
- cisi: CISI.ALL / CISI.QRY (SMART), CISI.REL "qid docid 0 0.0": every listed pair is relevant (gain 1).
  A query's text is its .W; the 55 that also have a .T (a title) are searched as title + text.
- med: MED.ALL / MED.QRY (.W only), MED.REL "qid 0 docid 1".
- time: TIME.ALL (`*TEXT nnn date PAGE p` headers, upper case: read as lower case, with the punctuation that the
  file spaces off its word joined back), TIME.QUE (`*FIND n`), TIME.REL "qid d1 d2 ..." where a doc id is the
  article's 1-based position in TIME.ALL; binary. The 3 pairs past the last article are dropped, which leaves
  82 of the 83 queries judged. No titles.
- cystic_fibrosis: cf74..cf79 (two-letter fields; RN is the doc id; title TI, body AB or else EX), cfquery
  (QN, QU, RD "docRN scores" with one digit 0-2 per judge): the gain is the sum of the 4 judges' digits (1..8).

cranfield, cisi and med are where the ranking was developed; time and cystic_fibrosis were added later as
held-out collections (issue 21); `python -m eval.levers` chooses query-time settings leaving one out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT.parent / "shared" / "data"
WORK_DIR = ROOT / "eval" / "work"
COLLECTIONS = ("cranfield", "cisi", "med", "time", "cystic_fibrosis")
WORKERS = 2
DEPTH = 100  # hits asked for per query: the API's largest page
MEASURES = ("nDCG@10", "AP@100", "R@100")
# nDCG@10 of plain BM25 engines on the same collections (../shared/data/README.md): the best of each.
REFERENCE = {
    "cranfield": ("Whoosh 2.7 BM25F", 0.381),
    "cisi": ("bm25s, stopwords", 0.386),
    "med": ("Whoosh 2.7 BM25F", 0.705),
    "time": ("SQLite FTS5 bm25", 0.685),
    "cystic_fibrosis": ("bm25s, stopwords", 0.464),
}

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


@dataclass
class Collection:
    name: str
    docs: list[dict[str, str]]  # {"id", "title", "body"}: the project's JSONL document fields
    queries: dict[str, str]  # query id -> text
    qrels: Qrels  # query id -> doc id -> gain (> 0)

    @property
    def judged(self) -> dict[str, str]:
        """The queries with at least one relevant document, in id order."""
        return {qid: text for qid, text in self.queries.items() if self.qrels.get(qid)}


# -- reading the collections ---------------------------------------------------------------------------------
_FIELD_LINE = re.compile(r"^\.([A-Z])(?:\s+(.*))?$")


def read_smart(path: Path) -> list[dict[str, str]]:
    """SMART records: `.I n` starts one, `.T`/`.A`/`.B`/`.W`/`.X` start a field that runs to the next
    marker. One dict per record: {"I": n, "T": ..., "W": ...}, whitespace collapsed."""
    records: list[dict[str, str]] = []
    current: dict[str, list[str]] | None = None
    key = ""
    for line in path.read_text("latin-1").splitlines():
        line = line.rstrip()
        m = _FIELD_LINE.match(line)
        if m and m.group(1) == "I":
            current = {"I": [(m.group(2) or "").strip()]}
            records.append(current)  # type: ignore[arg-type]
            key = ""
        elif m and current is not None and m.group(1) in "TABWXK":
            key = m.group(1)
            current.setdefault(key, [])
            if m.group(2):
                current[key].append(m.group(2))
        elif current is not None and key:
            current[key].append(line)
    return [{k: " ".join(" ".join(v).split()) for k, v in r.items()} for r in records]


def _documents(records: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    docs = []
    for r in records:
        title, body = r.get("T", ""), r.get("W", "")
        # The project's documents need a body: a record without one (cranfield has two) uses its title.
        docs.append({"id": r["I"], "title": title, "body": body or title or "(empty)"})
    return docs


def load_cranfield(folder: Path) -> Collection:
    docs = _documents(read_smart(folder / "cran.all.1400"))
    # Queries are numbered by position: the .I numbers in cran.qry have gaps.
    queries = {str(n): r.get("W", "") for n, r in enumerate(read_smart(folder / "cran.qry"), 1)}
    qrels: Qrels = {}
    for line in (folder / "cranqrel").read_text("latin-1").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        qid, docid, grade = parts[0], parts[1], int(parts[2])
        if grade == -1:
            continue
        gain = 5 - grade  # 1 (complete answer) -> 4 .. 4 (minimum interest) -> 1
        qrels.setdefault(qid, {})[docid] = max(gain, qrels.get(qid, {}).get(docid, 0))
    return Collection("cranfield", docs, queries, qrels)


def load_cisi(folder: Path) -> Collection:
    docs = _documents(read_smart(folder / "CISI.ALL"))
    queries = {}
    for r in read_smart(folder / "CISI.QRY"):
        title, text = r.get("T", ""), r.get("W", "")
        queries[r["I"]] = f"{title} {text}".strip()
    qrels: Qrels = {}
    for line in (folder / "CISI.REL").read_text("latin-1").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            qrels.setdefault(parts[0], {})[parts[1]] = 1
    return Collection("cisi", docs, queries, qrels)


def load_med(folder: Path) -> Collection:
    docs = _documents(read_smart(folder / "MED.ALL"))
    queries = {r["I"]: r.get("W", "") for r in read_smart(folder / "MED.QRY")}
    qrels: Qrels = {}
    for line in (folder / "MED.REL").read_text("latin-1").splitlines():
        parts = line.split()
        if len(parts) >= 4 and int(parts[3]) > 0:
            qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return Collection("med", docs, queries, qrels)


_TIME_HEADER = re.compile(r"^\*TEXT\s+\d+")
_TIME_QUERY = re.compile(r"^\*FIND\s+(\d+)")
# TIME prints punctuation spaced off its word ("THE U.S . FIRST"): rejoined before indexing.
_SPACED_PUNCTUATION = re.compile(r"\s+([.,;:!?)])")


def _time_text(lines: list[str]) -> str:
    return _SPACED_PUNCTUATION.sub(r"\1", " ".join(" ".join(lines).split())).lower()


def load_time(folder: Path) -> Collection:
    docs: list[dict[str, str]] = []
    current: list[str] | None = None
    for line in (folder / "TIME.ALL").read_text("latin-1").splitlines():
        if _TIME_HEADER.match(line) or line.startswith("*STOP"):
            if current is not None:
                # The doc id is the article's 1-based position in TIME.ALL, as TIME.REL counts (not *TEXT nnn).
                docs.append({"id": str(len(docs) + 1), "title": "", "body": _time_text(current) or "(empty)"})
            current = None if line.startswith("*STOP") else []
        elif current is not None:
            current.append(line)
    queries: dict[str, str] = {}
    qid = None
    for line in (folder / "TIME.QUE").read_text("latin-1").splitlines():
        if m := _TIME_QUERY.match(line):
            qid = m.group(1)
            queries[qid] = ""
        elif line.startswith("*STOP"):
            break
        elif qid is not None:
            queries[qid] = f"{queries[qid]} {line}".strip()
    queries = {q: _time_text([t]) for q, t in queries.items()}
    ids = {d["id"] for d in docs}
    qrels: Qrels = {}
    for line in (folder / "TIME.REL").read_text("latin-1").splitlines():
        parts = line.split()
        # Binary; 3 pairs point past the last article (the original held 425): dropped.
        for docid in parts[1:]:
            if docid in ids:
                qrels.setdefault(parts[0], {})[docid] = 1
    return Collection("time", docs, queries, qrels)


_CF_FIELD = re.compile(r"^([A-Z]{2}) ")
_CF_FIELDS = frozenset("PN RN AN AU TI SO MJ MN AB EX RF CT".split())


def _cf_records(text: str, fields: frozenset[str], start: str) -> list[dict[str, str]]:
    """Two-letter fields at the start of a line, continuation lines indented (a few in cf79 are not: a line
    that does not open with a known field continues the one before)."""
    records: list[dict[str, list[str]]] = []
    key = ""
    for line in text.replace("\x1a", "").splitlines():
        m = _CF_FIELD.match(line)
        if m and m.group(1) in fields:
            key = m.group(1)
            if key == start:
                records.append({})
            if records:
                records[-1].setdefault(key, []).append(line[3:])
        elif records and key and line.strip():
            records[-1][key].append(line)
    return [{k: " ".join(" ".join(v).split()) for k, v in r.items()} for r in records]


def load_cystic_fibrosis(folder: Path) -> Collection:
    docs = []
    for year in range(74, 80):
        for r in _cf_records((folder / f"cf{year}").read_text("latin-1"), _CF_FIELDS, "PN"):
            title = r.get("TI", "")
            body = r.get("AB") or r.get("EX") or ""
            if r.get("RN", "").strip().isdigit():
                # Record 00124's EX is garbled bytes (it has neither AB nor EX): it searches by its title.
                docs.append({"id": str(int(r["RN"])), "title": title, "body": body or title or "(empty)"})
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    for r in _cf_records((folder / "cfquery").read_text("latin-1"), frozenset({"QN", "QU", "NR", "RD"}), "QN"):
        qid = str(int(r["QN"]))
        queries[qid] = r.get("QU", "")
        tokens = r.get("RD", "").split()
        for docid, scores in zip(tokens[::2], tokens[1::2], strict=True):
            # Graded: the sum of the 4 judges' scores (each 0, 1 or 2), so 1..8.
            gain = sum(int(c) for c in scores)
            if gain > 0:
                qrels.setdefault(qid, {})[str(int(docid))] = gain
    return Collection("cystic_fibrosis", docs, queries, qrels)


LOADERS: dict[str, Callable[[Path], Collection]] = {
    "cranfield": load_cranfield,
    "cisi": load_cisi,
    "med": load_med,
    "time": load_time,
    "cystic_fibrosis": load_cystic_fibrosis,
}


def load_collection(name: str, data_dir: Path = DATA_DIR) -> Collection:
    return LOADERS[name](data_dir / name)


# -- plain text ----------------------------------------------------------------------------------------------
_SYNTAX = re.compile(r"[\"()\[\]{}?*~^:\\]")
_LEADING_SIGN = re.compile(r"(?:(?<=\s)|^)[-+]+")
_OPERATOR = re.compile(r"\b(AND|OR|NOT)\b")


def plain_text(text: str) -> str:
    """`text` as plain words for the query language: quotes, parentheses, `?`, `*`, `~`, `^` and `:`
    become spaces, a `-` or `+` that starts a word is dropped, and AND/OR/NOT are lowercased."""
    text = _SYNTAX.sub(" ", text)
    text = _LEADING_SIGN.sub("", text)
    text = _OPERATOR.sub(lambda m: m.group(1).lower(), text)
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[: limit + 1].rsplit(" ", 1)[0]


# -- indexing ------------------------------------------------------------------------------------------------
def _source_digest(*modules: str) -> str:
    h = hashlib.sha256()
    for module in modules:
        h.update((ROOT / module).read_bytes())
    return h.hexdigest()


def index_key(collection: Collection, model: str) -> str:
    """What decides an index's contents: the documents, the schema and extraction versions, the model and
    schema.py itself (analyzers, field options). Extraction changes bump EXTRACTION_VERSION (indexer.py)."""
    from searchsvc.index.indexer import EXTRACTION_VERSION
    from searchsvc.index.schema import SCHEMA_VERSION

    h = hashlib.sha256()
    versions = [SCHEMA_VERSION, EXTRACTION_VERSION, model, _source_digest("searchsvc/index/schema.py")]
    h.update(json.dumps(versions).encode())
    for doc in collection.docs:
        h.update(json.dumps(doc, sort_keys=True).encode())
    return h.hexdigest()[:16]


def extraction_key(collection: Collection, model: str) -> str:
    """What decides the extraction of an index's documents: the documents, EXTRACTION_VERSION and the model."""
    from searchsvc.index.indexer import EXTRACTION_VERSION

    h = hashlib.sha256()
    h.update(json.dumps([EXTRACTION_VERSION, model]).encode())
    for doc in collection.docs:
        h.update(json.dumps(doc, sort_keys=True).encode())
    return h.hexdigest()[:16]


EXTRACTION_KEY_FILE = "extraction.key"


def reanalyse(source: Path, target: Path, log: Callable[[str], None] = print) -> Path:
    """An index at `target` holding the documents and extractions stored in the index at `source` (of any
    schema version), written by today's schema.py: a schema or analyzer change re-indexes in seconds instead of
    running the entity extraction again."""
    from searchsvc.index.indexer import commit
    from searchsvc.index.schema import document_fields, document_from_stored
    from searchsvc.index.store import IndexStore

    started = time.perf_counter()
    old, _ = IndexStore(source).open(any_version=True)
    store = IndexStore(target)
    ix, generation = store.create_generation()
    writer = ix.writer(limitmb=256)
    try:
        with old.searcher() as searcher:
            for stored in searcher.all_stored_fields():
                doc, extraction = document_from_stored(stored)
                writer.add_document(**document_fields(doc, extraction, path="", content_hash=""))
    except BaseException:
        writer.cancel()
        raise
    finally:
        old.close()
    commit(writer)
    store.publish(generation)
    log(f"{target}: re-analysed from {source} in {time.perf_counter() - started:.0f} s")
    return target


def _same_extraction(work_dir: Path, name: str, key: str) -> Path | None:
    """A built index of collection `name` (any schema) whose extraction has `key`, if one is cached."""
    from searchsvc.index.store import IndexStore, IndexStoreError

    for marker in sorted(work_dir.glob(f"{name}-*/{EXTRACTION_KEY_FILE}")):
        if marker.read_text().strip() != key:
            continue
        try:
            if IndexStore(marker.parent / "index").read_marker(any_version=True) is not None:
                return marker.parent / "index"
        except IndexStoreError:
            continue
    return None


def build_index(
    collection: Collection,
    work_dir: Path = WORK_DIR,
    *,
    model: str,
    workers: int = WORKERS,
    rebuild: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """The index directory of `collection`, built through the project's loader and indexer unless a cached one
    with the same key exists; when only the schema changed since a cached one was built, its documents and
    extractions are re-analysed (`reanalyse`) instead (not with `rebuild`)."""
    from searchsvc.index.indexer import IndexOptions, index_paths
    from searchsvc.index.store import IndexStore, IndexStoreError

    folder = work_dir / f"{collection.name}-{index_key(collection, model)}"
    index_dir = folder / "index"
    store = IndexStore(index_dir)
    if not rebuild:
        try:
            if store.exists():
                return index_dir
        except IndexStoreError:
            pass
    ekey = extraction_key(collection, model)
    earlier = None if rebuild else _same_extraction(work_dir, collection.name, ekey)
    if earlier is not None and earlier != index_dir:
        if index_dir.exists():
            shutil.rmtree(index_dir)
        reanalyse(earlier, index_dir, log=log)
        (folder / EXTRACTION_KEY_FILE).write_text(ekey + "\n")
        return index_dir
    source = folder / "docs" / f"{collection.name}.jsonl"
    source.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "w", encoding="utf-8") as f:
        for doc in collection.docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    log(
        f"{collection.name}: indexing {len(collection.docs)} documents into {index_dir} "
        f"({workers} extraction workers) ..."
    )
    report = index_paths([source], store, IndexOptions(model=model, workers=workers, rebuild=True))
    if report.failures:
        failed = len(report.failures)
        raise RuntimeError(f"{collection.name}: {failed} documents failed: {report.failures[:3]}")
    (folder / EXTRACTION_KEY_FILE).write_text(ekey + "\n")
    log(f"{collection.name}: indexed in {report.seconds:.0f} s")
    return index_dir


# -- searching -----------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    run: Run
    rejected: dict[str, str]  # query id -> the error the service answered with
    shortened: list[str]  # query ids cut to max_query_length
    seconds: float


def search_settings(index_dir: Path) -> Any:
    """The service's default settings (the environment ignored), on `index_dir`."""
    from searchsvc.config import load_settings

    return load_settings({"index_dir": str(index_dir)}, env={})


def run_queries(
    index_dir: Path,
    queries: Mapping[str, str],
    *,
    raw: bool = False,
    depth: int = DEPTH,
    configure: Callable[[Any], None] | None = None,
    match: str | None = None,
) -> RunResult:
    """Search every query as GET /search?q=<text>&limit=<depth>&highlight=false would: the parameters go
    through the API's request schema, then `SearchService.search`. `configure` (experiments only) receives
    the service before the first search; `match` (experiments only) adds `&match=<match>`."""
    from searchsvc.api.read_schemas import SearchRequestSchema, load_request
    from searchsvc.errors import ParameterError, QueryError
    from searchsvc.search.requests import Filters, SearchRequest
    from searchsvc.search.service import SearchService

    settings = search_settings(index_dir)
    schema = SearchRequestSchema(settings)
    service = SearchService(settings)
    if configure is not None:
        configure(service)
    run: Run = {}
    rejected: dict[str, str] = {}
    shortened: list[str] = []
    started = time.perf_counter()
    try:
        for qid, text in queries.items():
            q = text if raw else plain_text(text)
            if not raw and len(q) > settings.max_query_length:
                q = _shorten(q, settings.max_query_length)
                shortened.append(qid)
            try:
                args = {"q": q, "limit": str(depth), "highlight": "false"} | ({"match": match} if match else {})
                params = load_request(schema, args)
                request = SearchRequest(
                    q=params["q"],
                    match=params["match"],
                    filters=Filters(),
                    sort=params["sort"],
                    limit=params["limit"],
                    offset=params["offset"],
                    highlight=params["highlight"],
                )
                result = service.search(request)
            except (QueryError, ParameterError) as exc:
                rejected[qid] = f"{type(exc).__name__}: {exc}"
                run[qid] = {}
                continue
            # Scores as ranks: ties keep the service's order (ir_measures sorts by score).
            run[qid] = {hit.id: float(len(result.hits) - rank) for rank, hit in enumerate(result.hits)}
    finally:
        service.close()
    return RunResult(run, rejected, shortened, time.perf_counter() - started)


# -- scoring -------------------------------------------------------------------------------------------------
def score(qrels: Qrels, run: Run, measures: Sequence[str] = MEASURES) -> dict[str, Any]:
    """Mean of each measure over every judged query (a query the service rejected or answered with nothing
    scores 0), and the per-query values. Computed by ir_measures."""
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    per_query: dict[str, dict[str, float]] = {m: dict.fromkeys(qrels, 0.0) for m in measures}
    names = {str(p): m for p, m in zip(parsed, measures, strict=True)}
    nonempty = {qid: docs for qid, docs in run.items() if docs}
    for metric in ir_measures.iter_calc(parsed, qrels, nonempty):
        per_query[names[str(metric.measure)]][metric.query_id] = float(metric.value)
    means = {m: sum(v.values()) / len(v) if v else 0.0 for m, v in per_query.items()}
    return {"queries": len(qrels), "means": means, "per_query": per_query}


# -- the command ---------------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    collection: str
    documents: int
    result: RunResult
    scores: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        label, reference = REFERENCE[self.collection]
        return {
            "collection": self.collection,
            "documents": self.documents,
            "queries": self.scores["queries"],
            "means": self.scores["means"],
            "reference": {"engine": label, "nDCG@10": reference},
            "rejected": self.result.rejected,
            "shortened": self.result.shortened,
            "search_seconds": round(self.result.seconds, 2),
            "per_query": self.scores["per_query"],
        }


def evaluate(
    name: str,
    *,
    data_dir: Path = DATA_DIR,
    work_dir: Path = WORK_DIR,
    model: str,
    workers: int = WORKERS,
    rebuild: bool = False,
    raw: bool = False,
    log: Callable[[str], None] = print,
) -> Evaluation:
    """Load, index (or reuse) and search one collection, and score the run."""
    collection = load_collection(name, data_dir)
    index_dir = build_index(collection, work_dir, model=model, workers=workers, rebuild=rebuild, log=log)
    result = run_queries(index_dir, collection.judged, raw=raw)
    return Evaluation(name, len(collection.docs), result, score(collection.qrels, result.run))


def format_table(evaluations: Sequence[Evaluation]) -> str:
    header = (
        f"{'collection':<16}{'docs':>6}{'queries':>9}{'nDCG@10':>9}{'AP@100':>8}{'R@100':>8}"
        f"   {'reference nDCG@10 (best plain BM25)':<36}"
    )
    lines = [header, "-" * len(header)]
    for e in evaluations:
        means = e.scores["means"]
        label, reference = REFERENCE[e.collection]
        delta = means["nDCG@10"] - reference
        verdict = "above" if delta > 0 else "BELOW"
        lines.append(
            f"{e.collection:<16}{e.documents:>6}{e.scores['queries']:>9}{means['nDCG@10']:>9.3f}"
            f"{means['AP@100']:>8.3f}{means['R@100']:>8.3f}   "
            f"{reference:.3f} {label:<18} {delta:+.3f} {verdict}"
        )
    return "\n".join(lines)


def format_notes(evaluations: Sequence[Evaluation]) -> str:
    lines = []
    for e in evaluations:
        for qid, error in e.result.rejected.items():
            lines.append(f"{e.collection} query {qid}: rejected, scored 0 -- {error}")
        for qid in e.result.shortened:
            lines.append(f"{e.collection} query {qid}: longer than max_query_length, cut at a word boundary")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.ranking", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--collections", default=",".join(COLLECTIONS), help="comma-separated, of %(default)s")
    add("--data", type=Path, default=DATA_DIR, help="the shared data folder (default: %(default)s)")
    add("--work", type=Path, default=WORK_DIR, help="where indexes are cached (default: %(default)s)")
    add("--workers", type=int, default=WORKERS, help="extraction processes (default: %(default)s)")
    add("--model", default=None, help="spaCy model (default: the spacy_model setting's default)")
    add("--rebuild", action="store_true", help="rebuild the indexes even when cached")
    add(
        "--raw",
        action="store_true",
        help="search each query's text as is, without plain_text (shows what the parser rejects)",
    )
    add("--json", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.collections.split(",") if n.strip()]
    unknown = [n for n in names if n not in COLLECTIONS]
    if unknown:
        parser.error(f"unknown collection {unknown[0]!r}; collections are: {', '.join(COLLECTIONS)}")
    missing = [n for n in names if not (args.data / n).is_dir()]
    if missing:
        print(f"ranking: {args.data / missing[0]} is missing; the collections live in ../shared/data", file=sys.stderr)
        return 2
    from searchsvc.config import SETTINGS

    model = args.model or next(s.default for s in SETTINGS if s.name == "spacy_model")
    started = time.perf_counter()
    evaluations = [
        evaluate(
            n,
            data_dir=args.data,
            work_dir=args.work,
            model=model,
            workers=args.workers,
            rebuild=args.rebuild,
            raw=args.raw,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
        for n in names
    ]
    print(
        f"ranking: GET /search?q=<query>&limit={DEPTH} with the default settings "
        f"({'raw text' if args.raw else 'plain_text'}), {time.perf_counter() - started:.0f} s"
    )
    print(format_table(evaluations))
    if notes := format_notes(evaluations):
        print(notes)
    if args.json:
        data = [e.to_json() for e in evaluations]
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
