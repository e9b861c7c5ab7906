"""Faults: `kill -9` of the indexer mid-run, corrupt and foreign index directories, and a full disk (simulated with
RLIMIT_FSIZE, so no root is needed). Each leaves the previous index serving and fails with one clear line."""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, app_config, assert_error
from servers import run_gunicorn

from searchsvc.cli import ExitStatus
from searchsvc.config import load_settings
from searchsvc.index.store import MARKER, IndexStore
from searchsvc.search.requests import SearchRequest
from searchsvc.search.service import SearchService

CLI = [sys.executable, "-c", "from searchsvc.cli import main; main()"]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}


def generated_corpus(folder: Path, count: int, words: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    filler = " ".join(f"quayside{w}" for w in range(words))
    for i in range(count):
        doc = {
            "id": f"gen-{i:04d}",
            "title": f"Dispatch {i} from Porto",
            "body": f"Mayor Ana Costa{i} met officials in Porto on March {i % 28 + 1}, 2021. {filler}",
            "published": "2021-03-01",
        }
        (folder / f"gen-{i:04d}.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def search_total(index: Path, q: str) -> int:
    service = SearchService(load_settings(app_config(index), env={}))
    try:
        return service.search(SearchRequest(q=q)).total
    finally:
        service.close()


def assert_serving(index: Path, expected_harbour: int) -> None:
    """The live generation opens and answers as before the fault."""
    ix, _ = IndexStore(index).open()
    ix.close()
    assert search_total(index, "harbour") == expected_harbour
    assert search_total(index, "quayside1") == 0


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc
    err = proc.stderr.strip()
    assert "Traceback" not in err and 'File "' not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("indexed ")]
    assert len(lines) == 1, err
    return lines[0]


# -- (a) kill -9 of `searchsvc index` mid-run ----------------------------------------------------------------
@pytest.mark.parametrize("rebuild", [False, True], ids=["incremental", "rebuild"])
def test_kill_9_of_the_indexer_leaves_the_previous_index(own_index_dir: Path, tmp_path: Path, rebuild: bool) -> None:
    before = search_total(own_index_dir, "harbour")
    marker_before = (own_index_dir / MARKER).read_text()
    corpus = generated_corpus(tmp_path / "big", 300)
    args = [*CLI, "index", str(corpus), "--index", str(own_index_dir), "--workers", "1", *(["--rebuild"] * rebuild)]
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(args, cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        # The first progress line ("indexed 0% of the input") is printed once a document is extracted and written.
        while "% of the input" not in (tmp_path / "stderr").read_text():
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            assert time.monotonic() < deadline, "the indexer did not start extracting"
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, "the indexer finished before the kill: make the corpus bigger"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (own_index_dir / MARKER).read_text() == marker_before
    assert_serving(own_index_dir, before)

    done = subprocess.run(args, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == ExitStatus.OK, done.stderr
    assert "indexed 300," in done.stdout
    assert search_total(own_index_dir, "quayside1") == 300
    assert search_total(own_index_dir, "harbour") == (0 if rebuild else before)


# -- (b) corrupt and foreign index directories ---------------------------------------------------------------
def _live(index: Path) -> Path:
    return index / json.loads((index / MARKER).read_text())["generation"]


def _damage(index: Path, how: str) -> None:
    if how == "foreign":  # a plain Whoosh index: its files (a pickled schema among them) but no marker
        gen = _live(index)
        for p in gen.iterdir():
            p.rename(index / p.name)
        for p in index.glob("gen-*"):
            shutil.rmtree(p)
        (index / MARKER).unlink()
        return
    gen = _live(index)
    if how == "toc-garbled":
        for toc in gen.glob("*.toc"):
            toc.write_bytes(b"\x80\x04garbage" + os.urandom(64))
    elif how == "toc-truncated":
        for toc in gen.glob("*.toc"):
            toc.write_bytes(toc.read_bytes()[:40])
    elif how == "segments-truncated":
        for seg in gen.iterdir():
            if seg.suffix != ".toc" and seg.is_file():
                seg.write_bytes(seg.read_bytes()[:7])
    elif how == "generation-missing":
        shutil.rmtree(gen)  # its Whoosh files and the search kernel's folder
    elif how == "marker-garbled":
        (index / MARKER).write_text("{not json")


# What the one error line says for each damage (after "Error: index_unavailable: ").
EXPLANATIONS = {
    "toc-garbled": "cannot open the index in <path>",
    "toc-truncated": "cannot open the index in <path>",
    "segments-truncated": "cannot read the index",
    "generation-missing": "named by searchsvc.json is missing",
    "marker-garbled": "<path>/searchsvc.json is not a searchsvc index marker",
    "foreign": "<path> holds files but no searchsvc.json: it was not created by searchsvc, so it will not be opened",
}
DAMAGE = list(EXPLANATIONS)


# Whoosh's TOC reader leaves the file open when unpickling a damaged TOC fails (a ResourceWarning at collection).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_index_gives_a_clear_error(own_index_dir: Path, make_app: Any, how: str) -> None:
    _damage(own_index_dir, how)
    proc = subprocess.run(
        [*CLI, "search", "harbour", "--index", str(own_index_dir)],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = assert_one_line_error(proc)
    # The words that say what is wrong, looked for in the line without the index's path (which holds "index").
    said = line.replace(str(own_index_dir), "<path>")
    assert said.startswith("Error: index_unavailable: "), line
    assert EXPLANATIONS[how] in said, line

    client = make_app(own_index_dir).test_client()
    assert client.get("/health").status_code == 200
    for url in ("/ready", "/search?q=harbour", "/documents/storm-lisbon", "/stats"):
        assert_error(client.get(url), 503, "index_unavailable")
    gc.collect()  # the leaked file handles are reported here, under this test's warning filter


@pytest.mark.parametrize("how", ["toc-garbled", "foreign"])
def test_gunicorn_on_a_damaged_index_stays_up(own_index_dir: Path, tmp_path: Path, how: str) -> None:
    _damage(own_index_dir, how)
    with run_gunicorn(own_index_dir, tmp_path / "gunicorn.log", workers=2) as server:
        for _ in range(6):
            assert server.get("/health").status_code == 200
            ready = server.get("/ready")
            assert_error(ready, 503, "index_unavailable")
            search = server.get("/search?q=harbour")
            assert_error(search, 503, "index_unavailable")
        time.sleep(0.5)
        assert server.process.poll() is None
        log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log
    assert log.count("Booting worker") == 2, log  # no worker died and was replaced


# -- (c) a full disk -----------------------------------------------------------------------------------------
FILE_SIZE_LIMIT = 16_000


def _small_files_only() -> None:
    # Writes past the limit fail with EFBIG instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


@pytest.mark.parametrize("rebuild", [False, True], ids=["incremental", "rebuild"])
def test_a_full_disk_fails_clearly_and_corrupts_nothing(own_index_dir: Path, tmp_path: Path, rebuild: bool) -> None:
    before = search_total(own_index_dir, "harbour")
    marker_before = (own_index_dir / MARKER).read_text()
    corpus = generated_corpus(tmp_path / "big", 40, words=200)
    proc = subprocess.run(
        [*CLI, "index", str(corpus), "--index", str(own_index_dir), "--workers", "1", *(["--rebuild"] * rebuild)],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_small_files_only,
    )
    line = assert_one_line_error(proc)
    assert proc.returncode == ExitStatus.ERROR, proc.stderr
    assert line.startswith("error:") and "File too large" in line, line
    assert (own_index_dir / MARKER).read_text() == marker_before
    assert_serving(own_index_dir, before)
