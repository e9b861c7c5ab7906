"""Smoke tests of the benchmark code (bench/) on a few documents; `make bench` itself is never run here."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL_DOCS

from bench import fts5_service, indexing, overhead, queries, reuters, run, serving, sidebyside
from bench.measure import latency_summary, percentile
from bench.report import render, targets
from searchsvc.documents import Document, iter_documents
from searchsvc.extract.types import Entity, Extraction
from searchsvc.index import indexer

SGML = """<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="1">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TOPICS><D>cocoa</D></TOPICS>
<TEXT>&#2;
<TITLE>BAHIA COCOA REVIEW</TITLE>
<DATELINE>    SALVADOR, Feb 26 - </DATELINE><BODY>Showers continued throughout the week in
the Bahia cocoa zone, Comissaria Smith &amp; Co said.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="NO" NEWID="2">
<DATE>  3-MAR-1987 00:43:42.82</DATE>
<TEXT TYPE="UNPROC">&#2; no title here, unprocessed wire text &#3;</TEXT>
</REUTERS>
<REUTERS TOPICS="NO" NEWID="3">
<DATE>3-MAR-1987  09:15:05.40</DATE>
<TEXT TYPE="BRIEF">&#2;<TITLE>******&lt;TOTAL PETROLEUM&gt; SETS DIVIDEND</TITLE>&#3;</TEXT>
</REUTERS>
"""


def test_reuters_sgml_becomes_project_documents(tmp_path: Path) -> None:
    docs = list(reuters.parse_sgml(SGML))
    assert [d["id"] for d in docs] == ["reuters-1", "reuters-3"]  # no title: skipped
    cocoa, brief = docs
    assert cocoa["title"] == "BAHIA COCOA REVIEW"
    assert cocoa["body"].endswith("Comissaria Smith & Co said.")  # unescaped, wire signature dropped
    assert cocoa["published"] == "1987-02-26T15:01:01.790000"
    assert brief["body"] == brief["title"] == "******<TOTAL PETROLEUM> SETS DIVIDEND"
    assert brief["published"] == "1987-03-03T09:15:05.400000"

    data = reuters.convert(docs, tmp_path / "corpus", copies=3)
    assert data == {"documents": 6, "unique_documents": 2, "words": 3 * sum(map(reuters.count_words, docs))}
    loaded = [item for _, item in iter_documents([tmp_path / "corpus"])]
    assert all(isinstance(d, Document) for d in loaded), loaded
    assert sorted(d.id for d in loaded) == sorted(
        ["reuters-1", "reuters-3", "reuters-1-c2", "reuters-3-c2", "reuters-1-c3", "reuters-3-c3"]
    )
    assert {d.published for d in loaded} == {
        dt.datetime(1987, 2, 26, 15, 1, 1, 790000),
        dt.datetime(1987, 3, 3, 9, 15, 5, 400000),
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("26-FEB-1987 15:01:01.79", dt.datetime(1987, 2, 26, 15, 1, 1, 790000)),
        ("  5-MAR-1987 09:52:36.00", dt.datetime(1987, 3, 5, 9, 52, 36)),
        ("31-FEB-1987 00:00:00.00", None),
        ("", None),
    ],
)
def test_reuters_dates(raw: str, expected: dt.datetime | None) -> None:
    assert reuters.parse_date(raw) == expected


def test_identical_texts_are_extracted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[tuple[str, Any]]] = []

    def fake(
        items: list[tuple[str, Any]], model: str, workers: int, extractor: Any = None, pool: Any = None
    ) -> Iterator[Extraction]:
        calls.append(list(items))
        for text, _ in items:
            yield Extraction(entities=(Entity(text, "org", 1),))

    monkeypatch.setattr(indexer, "_extract_unique", fake)
    day = dt.date(2021, 3, 19)
    docs = [
        Document("a", "", "same text", day),
        Document("b", "", "other text", day),
        Document("a-copy", "", "same text", day),
        Document("a-later", "", "same text", dt.date(2021, 3, 20)),  # another date: relative dates differ
    ]
    out = list(indexer.extract_all(docs, "model", workers=2))
    assert [e.entities[0].name for e in out] == ["same text", "other text", "same text", "same text"]
    assert out[0] is out[2]
    assert calls == [[("same text", day), ("other text", day), ("same text", dt.date(2021, 3, 20))]]


def test_query_mix_is_seeded_and_runs_in_process_and_over_flask(index_dir: Path, make_app: Any) -> None:
    vocab = queries.vocabulary(SMALL_DOCS)
    runner = queries.Runner(index_dir)
    try:
        entities = {
            kind: [e["name"] for e in runner.service.entities(kind, "", 5)] for kind in ("person", "org", "place")
        }
        mix = queries.query_mix(vocab, entities, 2, seed=7, accept=queries.expansion_ok(runner))
        assert mix == queries.query_mix(vocab, entities, 2, seed=7, accept=queries.expansion_ok(runner))
        assert {q.category for q in mix} == set(queries.CATEGORIES)
        result = queries.run_inprocess(runner, mix, mix[:3], rounds=1)
        assert result["errors"] == 0, result["error_examples"]
        assert result["categories"]["term"]["n"] >= 1
        assert result["groups"]["all"]["raw_p50"] > 0
    finally:
        runner.close()
    client = make_app().test_client()
    for q in mix:  # the HTTP run sends exactly these paths
        response = client.get(q.path)
        assert response.status_code == 200, (q.path, response.get_json())


def test_report_renders_and_checks_targets(index_dir: Path) -> None:
    results: dict[str, Any] = {
        "machine": {"cpu_count": 2, "memory_gb": 1.0, "python": "3.11", "platform": "test"},
        "commit": {"commit": "0" * 40, "dirty": False},
        "data": {"documents": 10, "unique_documents": 5, "copies": 2, "words": 100},
        "indexing": {
            "slice_2_workers": {"documents": 5, "words": 50, "seconds": 1.0, "words_per_s": 50},
            "full": {"documents": 10, "words": 100, "seconds": 10.0, "size_mb": 2.6},
            "unchanged_rerun": {"documents": 0, "words": 0, "seconds": 0.5},
            "plain_whoosh": {"documents": 10, "words": 100, "seconds": 1.0, "size_mb": 2.0},
        },
        "phase_seconds": {"index": 1.0},
        "seconds": 2.0,
    }
    met = {t["target"]: t["met"] for t in targets(results)}
    assert met == {
        "indexing words/s with extraction, 2 workers": False,
        "unchanged re-run / full run": True,
        "index size / plain Whoosh": True,
    }
    # HTTP latency is judged against the raw queries run back to back with the requests.
    results["http"] = {
        "sequential_1worker": {
            "groups": {
                "plain": {"n": 4, "p50": 12.0, "p95": 20.0, "raw_p50": 10.0, "raw_p95": 10.0},
                "hl+facets": {"n": 4, "p50": 12.0, "p95": 20.0, "raw_p50": 10.0, "raw_p95": 10.0},
            }
        }
    }
    by_name = {t["target"]: t for t in targets(results)}
    assert by_name["HTTP p50 / raw p50, plain"]["value"] == 1.2 and by_name["HTTP p50 / raw p50, plain"]["met"]
    assert by_name["HTTP p95 / raw p95, plain"]["met"] is False  # 2.0
    results["targets"] = targets(results)
    text = render(results)
    assert "full build, 2 workers" in text and "MISSED" in text


def test_percentiles() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert latency_summary([1.0])["p99"] == 1.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body, status = (b'{"ok": true}', 200) if "fail" not in self.path else (b"no", 500)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_drive_counts_requests_errors_and_keeps_connections_alive() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        server = serving.Server("127.0.0.1", port, None, Path("unused"))  # type: ignore[arg-type]
        requests = [("ok", "/search?q=a")] * 30 + [("bad", "/fail")] * 2
        result = serving.drive(server, requests, clients=4)
        assert (result["requests"], result["errors"]) == (32, 2)
        assert result["reconnects"] <= 4  # connections are reused (a loaded machine may drop one now and then)
        assert set(result["_samples"]) == {"ok"} and len(result["_samples"]["ok"]) == 30
        assert serving.repeated(server, ["/search?q=a"])["n"] == 1
        calls: list[int] = []
        pairs = serving.paired(server, requests[:3], lambda i: calls.append(i) or 1.0, rounds=2)
        assert calls == [0, 1, 2, 0, 1, 2]  # each raw query beside its request, every round
        assert len(pairs["ok"]["http"]) == 6 and pairs["ok"]["raw"] == [1.0] * 6
        with pytest.raises(serving.ServerError, match="500 /fail"):
            serving.paired(server, [("bad", "/fail")], lambda i: 1.0, rounds=1)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class _LoggingHandler(_Handler):
    seen: list[tuple[int, str]] = []  # (server port, path), in arrival order

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.seen.append((self.server.server_address[1], self.path))
        super().do_GET()


def test_one_client_lane_alternates_the_services_round_by_round() -> None:
    """The 1-client latencies of both services come from rounds taken in turn, first one then the other first,
    so that a slow minute of the machine falls on both (one service's run after the other's moved the median)."""
    servers, threads = [], []
    for _ in range(2):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _LoggingHandler)
        servers.append(httpd)
        threads.append(threading.Thread(target=httpd.serve_forever, daemon=True))
        threads[-1].start()
    _LoggingHandler.seen.clear()
    try:
        a, b = (serving.Server("127.0.0.1", h.server_address[1], None, Path("unused")) for h in servers)  # type: ignore[arg-type]
        mix = [queries.BenchQuery("term", {"q": w}) for w in ("x", "y")]
        out = sidebyside.one_client({"a": a, "b": b}, mix, rounds=3)
        ports = [port for port, _ in _LoggingHandler.seen]
        blocks = [ports[i] for i in range(0, len(ports), 2)]  # each round drives the two queries of the mix
        warm, timed = blocks[:2], blocks[2:]
        assert warm == [a.port, b.port]
        assert timed == [a.port, b.port, b.port, a.port, a.port, b.port]
        for label in ("a", "b"):
            assert (out[label]["rounds"], out[label]["requests"], out[label]["errors"]) == (3, 6, 0)
            assert len(out[label]["round_p50s"]) == 3 and out[label]["categories"]["term"]["n"] == 6
    finally:
        for httpd, thread in zip(servers, threads, strict=True):
            httpd.shutdown()
            httpd.server_close()
            thread.join()


def test_skips_with_a_message_without_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--data", str(tmp_path), "--work", str(tmp_path / "work")]) == 0
    assert "skipped" in capsys.readouterr().out
    assert not (tmp_path / "work").exists()


# -- issue 16: the FTS5 peer and the worker balance measurement ----------------------------------------------------
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("cocoa", '"cocoa"'),
        ("oil OR gas", '"oil" OR "gas"'),
        ("oil AND prices", '"oil" AND "prices"'),
        ('"interest rates"', '"interest rates"'),
        ("compan*", '"compan" *'),
        ("u.s. NOT (bank)", '"u.s." NOT ( "bank" )'),
    ],
)
def test_fts5_peer_reads_the_bench_queries_as_searchsvc_does(q: str, expected: str) -> None:
    assert fts5_service.to_match(q) == expected


def test_fts5_peer_refuses_what_it_cannot_express() -> None:
    for q in ('"oil prices"~3', "", "OR"):
        with pytest.raises(fts5_service.QuerySyntaxError):
            fts5_service.to_match(q)


def test_fts5_peer_ranks_highlights_and_counts(tmp_path: Path) -> None:
    docs = [
        {"id": "a", "title": "Cocoa prices <rise>", "body": "Cocoa rose in Bahia.", "published": "1987-02-26T15:00:00"},
        {"id": "b", "title": "Oil", "body": "Oil and cocoa, and interest rates.", "published": None},
        {"id": "c", "title": "Gold", "body": "Rates of interest on gold.", "published": "1987-03-01T00:00:00"},
    ]
    reuters.write_jsonl(docs, tmp_path / "corpus" / "a.jsonl")
    assert fts5_service.build(tmp_path / "corpus", tmp_path / "fts5.db")["documents"] == 3
    searcher = fts5_service.Searcher(tmp_path / "fts5.db")
    result = searcher.search("cocoa")
    assert [h["id"] for h in result["hits"]] == ["a", "b"]
    assert (result["total"], result["total_relation"]) == (2, "eq")
    assert result["hits"][0]["highlights"]["title"] == ["<mark>Cocoa</mark> prices &lt;rise&gt;"]  # escaped
    assert [h["id"] for h in searcher.search('"interest rates"')["hits"]] == ["b"]  # a phrase, not two words
    assert searcher.search("interest rates")["total"] == 2
    assert searcher.search("interest AND gold")["total"] == 1
    assert searcher.search("rising")["total"] == 1  # Porter stemming, as searchsvc's analyzer
    client = fts5_service.create_app(str(tmp_path / "fts5.db")).test_client()
    assert client.get("/search?q=gold&highlight=false").get_json()["hits"][0]["id"] == "c"
    assert client.get("/search?q=%22a+b%22~2").status_code == 400


def test_connection_split_reads_established_connections_of_the_port() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 111 1\n"
        "   1: 0100007F:1F40 0100007F:C350 01 00000000:00000000 00:00000000 00000000  0  0 222 1\n"
        "   2: 0100007F:C350 0100007F:1F40 01 00000000:00000000 00:00000000 00000000  0  0 333 1\n"
        "   3: 0100007F:1F41 0100007F:C351 01 00000000:00000000 00:00000000 00000000  0  0 444 1\n"
    )
    # Port 8000 (0x1F40): the listening socket (0A) and the client's end (local port 50000) are not counted.
    assert serving.parse_proc_net_tcp(text, 8000) == {222}
    assert sidebyside.split_label([5, 3]) == "5:3"


def test_connection_split_of_a_real_server() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        server = serving.Server("127.0.0.1", httpd.server_address[1], None, Path("unused"))  # type: ignore[arg-type]
        server.workers = lambda: [os.getpid()]  # type: ignore[method-assign]  # this process serves
        result = serving.drive(server, [("ok", "/")] * 12, 3, on_connected=lambda: serving.connection_split(server))
        assert result["connected"] == [3]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_agreement_of_the_two_services() -> None:
    mix = [queries.BenchQuery("term", {"q": "a"}), queries.BenchQuery("term", {"q": "b"})]
    ours = [{"total": 4, "ids": ["1", "2", "3", "4"]}, {"total": 0, "ids": []}]
    peer = [{"total": 2, "ids": ["1", "2"]}, {"total": 0, "ids": []}]
    assert sidebyside.agreement(mix, ours, peer)["term"] == {
        "n": 2,
        "empty_searchsvc": 1,
        "empty_fts5": 1,
        "top10_overlap_median": 0.5,
        "total_ratio_median": 0.5,
    }


def test_derived_files_are_told_apart_from_whoosh_files(tmp_path: Path) -> None:
    sizes = (("_MAIN_1.toc", 0), ("MAIN_x.seg", 10**6), ("MAIN_x.postings.npy", 5 * 10**5), ("lens.npy", 5 * 10**5))
    for name, size in sizes:
        (tmp_path / name).write_bytes(b"x" * size)
    disk = indexing.disk_breakdown(tmp_path)
    assert disk == {"total_mb": 2.0, "whoosh_mb": 1.0, "derived_mb": 1.0, "derived_by_kind_mb": {".npy": 1.0}}


def test_overhead_apps_answer_each_search_once_per_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench.overhead times the HTTP layer alone: the peer's search runs once per distinct request (at start,
    for the listed paths), and later requests get the same answer from memory."""
    reuters.write_jsonl(
        [{"id": "a", "title": "Cocoa", "body": "Cocoa rose in Bahia.", "published": None}], tmp_path / "c" / "a.jsonl"
    )
    fts5_service.build(tmp_path / "c", tmp_path / "fts5.db")
    (tmp_path / "paths.txt").write_text("/search?q=cocoa\n/search?q=bahia\n", "utf-8")
    monkeypatch.setenv("FTS5_DB", str(tmp_path / "fts5.db"))
    monkeypatch.setenv(overhead.PATHS_ENV, str(tmp_path / "paths.txt"))
    calls: list[str] = []
    real = fts5_service.Searcher.search

    def counted(self: fts5_service.Searcher, q: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(q)
        return real(self, q, *args, **kwargs)

    monkeypatch.setattr(fts5_service.Searcher, "search", counted)
    client = overhead.fts5_app().test_client()
    assert calls == ["cocoa", "bahia"]  # answered once each while the app was made
    for _ in range(3):
        assert client.get("/search?q=cocoa").get_json()["hits"][0]["id"] == "a"
    assert client.get("/search?q=rose").get_json()["total"] == 1
    assert calls == ["cocoa", "bahia", "rose"]
