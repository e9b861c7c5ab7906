"""The `searchsvc` command: a thin click layer over the library functions (index, search, serve, settings)."""

from __future__ import annotations

import enum
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from searchsvc.config import SettingsError, load_settings, settings_table
from searchsvc.index.indexer import IndexOptions, IndexReport, RunOutcome, index_paths
from searchsvc.index.store import IndexStore, IndexStoreError
from searchsvc.text_rules import CONTROL


class ExitStatus(enum.IntEnum):
    """What a `searchsvc` command tells a script; 2 is click's own, for wrong arguments or options."""

    OK = 0  # every document indexed (or unchanged); the search answered
    PARTIAL = 1  # some documents failed, the rest were indexed
    USAGE = 2  # wrong arguments or options, or an invalid query
    NOTHING = 3  # documents were given but none could be indexed (or a path given does not exist)
    ERROR = 4  # the index could not be opened, read or written


_RUN_STATUS = {
    RunOutcome.OK: ExitStatus.OK,
    RunOutcome.PARTIAL: ExitStatus.PARTIAL,
    RunOutcome.NOTHING: ExitStatus.NOTHING,
}


def _settings(**overrides: object):
    try:
        return load_settings({k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _fail(status: ExitStatus, message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(status)


class _Progress:
    """Bytes of the input indexed: a progress bar on a terminal, a plain line every 10% otherwise (logs stay
    readable)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.bar: Any = None
        self.shown = 0
        self.last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or self.shown >= total:
            return
        if self.tty:
            if self.bar is None:
                self.bar = click.progressbar(length=total, label="indexing", file=sys.stderr, show_pos=False)
                self.bar.__enter__()
            self.bar.update(done - self.shown)
            self.shown = done
            if done >= total:
                self.bar.__exit__(None, None, None)
            return
        self.shown = done
        decile = done * 10 // total
        if decile != self.last_decile:
            self.last_decile = decile
            click.echo(f"indexed {done * 100 // total}% of the input ({done:,} of {total:,} bytes)", err=True)


# What a report line must not print as it is: a control character (a line break in a file name made two lines
# of one failure) or a byte of a file name that is not UTF-8 (os.fsdecode's surrogate, U+DC80-U+DCFF).
_UNPRINTABLE = re.compile(f"{CONTROL.pattern}|[\t\n\r\udc80-\udcff]")


def _printable(text: str) -> str:
    """`text` on one line: a control character as \\n, \\t or \\x07, a byte that is not UTF-8 as \\xe9."""

    def escape(found: re.Match[str]) -> str:
        char = found.group()
        named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
        code = ord(char) - 0xDC00 if ord(char) >= 0xDC80 else ord(char)
        return named or f"\\x{code:02x}"

    return _UNPRINTABLE.sub(escape, text)


def _print_report(report: IndexReport) -> None:
    for w in report.warnings:
        click.echo(f"warning: {_printable(w.name)}: {_printable(w.reason)}", err=True)
    for f in report.failures:
        click.echo(f"failed: {_printable(f.name)}: {_printable(f.reason)}", err=True)
    wps = report.words / report.seconds if report.seconds else 0.0
    click.echo(
        f"indexed {report.indexed}, updated {report.updated}, unchanged {report.unchanged}, "
        f"deleted {report.deleted}, failed {report.failed} "
        f"in {report.seconds:.1f}s ({wps:,.0f} words/s)"
    )


@click.group()
@click.version_option(package_name="searchsvc")
def main() -> None:
    """searchsvc: search news articles and reports by words, phrases, people, places and dates."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory [default: index/].")
@click.option("--rebuild", is_flag=True, help="Build a fresh index beside the live one and swap it in.")
@click.option("--prune", is_flag=True, help="Remove documents whose files are gone.")
@click.option("--workers", type=click.IntRange(1, 64), help="Extraction processes [default: CPU count].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def index(
    paths: tuple[Path, ...], index_dir: Path | None, rebuild: bool, prune: bool, workers: int | None, as_json: bool
) -> None:
    """Index document files (txt, json, jsonl, md, html) under PATHS [default: seeds/]."""
    settings = _settings(index_dir=str(index_dir) if index_dir else None, index_workers=workers)
    roots = list(paths) or settings.source_paths
    missing = [str(p) for p in roots if not p.exists()]
    if missing:  # nothing is indexed: with --prune, a source folder that is not mounted would empty the index
        click.echo(f"error: no such file or folder: {', '.join(missing)}; nothing was indexed", err=True)
        sys.exit(ExitStatus.NOTHING)
    options = IndexOptions.from_settings(settings, rebuild=rebuild, prune=prune)
    try:
        report = index_paths(roots, IndexStore(settings.index_path), options, progress=None if as_json else _Progress())
    except (IndexStoreError, OSError) as exc:  # OSError: a full disk or a file size limit while writing
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitStatus.ERROR)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)
    sys.exit(_RUN_STATUS[report.outcome])


@main.command()
@click.option("--host", help="Address to bind [default: SEARCHSVC_HOST or 127.0.0.1].")
@click.option("--port", type=int, help="Port [default: SEARCHSVC_PORT or 8000].")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn workers.")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the search API with gunicorn."""
    env = dict(os.environ)
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            env[f"SEARCHSVC_{name}"] = str(value)
    conf = str(Path(__file__).with_name("gunicorn_conf.py"))
    args = [sys.executable, "-m", "gunicorn", "-c", conf, "searchsvc.wsgi:app"]
    os.execve(sys.executable, args, env)


@main.command("search")
@click.argument("query")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory [default: index/].")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON response.")
def search_command(query: str, index_dir: Path | None, limit: int, as_json: bool) -> None:
    """Search the index from the command line (the same search the API runs)."""
    from searchsvc.errors import ServiceError
    from searchsvc.search.requests import SearchRequest
    from searchsvc.search.service import SearchService

    settings = _settings(index_dir=str(index_dir) if index_dir else None)
    try:  # the store's own message says what is wrong (foreign, damaged, missing); the service's is generic
        ix, _ = IndexStore(settings.index_path).open()
        ix.reader().close()
        ix.close()
    except IndexStoreError as exc:
        _fail(ExitStatus.ERROR, f"index_unavailable: {exc}")
    except Exception as exc:  # Whoosh raises many kinds on damaged segment files
        _fail(ExitStatus.ERROR, f"index_unavailable: cannot read the index: {type(exc).__name__}: {exc}")
    service = SearchService(settings)
    try:
        result = service.search(SearchRequest(q=query, limit=limit, highlight=not as_json))
    except ServiceError as exc:
        _fail(ExitStatus.USAGE if exc.status < 500 else ExitStatus.ERROR, f"{exc.code}: {exc.message}")
    finally:
        service.close()
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{result.total}{'+' if result.total_relation == 'gte' else ''} hits in {result.took_ms:.1f} ms")
    for hit in result.hits:
        click.echo(f"{hit.score or 0:8.3f}  {hit.id}  {hit.published or '':10}  {hit.title}")
    if result.suggestion:
        click.echo(f"did you mean: {result.suggestion}")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README's configuration table.")
def show_settings(markdown: bool) -> None:
    """Show the settings in force (defaults overridden by SEARCHSVC_* variables)."""
    if markdown:
        click.echo(settings_table())
        return
    settings = _settings()
    for name, value in settings.values.items():
        if name.endswith("_key") and value:
            value = "(set)"
        click.echo(f"{name} = {value}")
