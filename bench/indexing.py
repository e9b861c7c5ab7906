"""Indexing runs: the project's `searchsvc index` in a child process per run (its own CPU time and peak RSS),
and a plain Whoosh index of the same text for the size ratio."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.measure import ChildRun, dir_size_mb, run_child, searchsvc_command


class BenchError(RuntimeError):
    """A step of the benchmark failed (its log says why)."""


def _env() -> dict[str, str]:
    """The environment of the child runs: this one without SEARCHSVC_* (only the flags configure a run)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}


def live_generation(index_dir: Path) -> Path:
    marker = json.loads((index_dir / "searchsvc.json").read_text("utf-8"))
    return index_dir / marker["generation"]


def segment_count(index_dir: Path) -> int:
    from searchsvc.index.store import open_whoosh

    ix = open_whoosh(live_generation(index_dir))
    return len(ix._segments())


def file_breakdown(ix: Any) -> dict[str, float]:
    """MB on disk per kind of Whoosh file, summed over segments: pst (postings of every field), trm (terms),
    _stored.col (stored fields), <field>.col (columns), _<field>_len.col (field lengths)."""
    sizes: dict[str, int] = {}
    for segment in ix._segments():
        if segment.is_compound():
            storage = segment.open_compound_file(ix.storage)
            names = [(name, storage.file_length(name)) for name in storage.list()]
            storage.close()
        else:
            names = [(name, ix.storage.file_length(name)) for name in segment.list_files(ix.storage)]
        for name, length in names:
            kind = name.split(".", 1)[1] if "." in name else name
            sizes[kind] = sizes.get(kind, 0) + length
    return {k: round(v / 1e6, 2) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])}


def index_files(index_dir: Path) -> dict[str, float]:
    from searchsvc.index.store import open_whoosh

    return file_breakdown(open_whoosh(live_generation(index_dir)))


def index_run(source: Path, index_dir: Path, workers: int, log: Path, *, fresh: bool = True) -> dict[str, Any]:
    """`searchsvc index --json --workers N --index DIR SOURCE`; a fresh run starts from an empty directory."""
    if fresh and index_dir.exists():
        shutil.rmtree(index_dir)
    args = [
        *searchsvc_command(),
        "index",
        "--json",
        "--workers",
        str(workers),
        "--index",
        str(index_dir),
        str(source),
    ]
    run = run_child(args, env=_env(), log=log)
    report = _report(run, log)
    out: dict[str, Any] = {
        "workers": workers,
        "documents": report["indexed"] + report["updated"],
        "unchanged": report["unchanged"],
        "failed": report["failed"],
        "words": report["words"],
        "seconds": round(run.wall, 2),
        "indexer_seconds": report["seconds"],
        "cpu_seconds": round(run.cpu, 1),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
    }
    out["docs_per_s"] = round(out["documents"] / run.wall, 1) if out["documents"] else 0.0
    out["words_per_s"] = round(out["words"] / run.wall) if out["words"] else 0
    out["words_per_cpu_s"] = round(out["words"] / run.cpu) if out["words"] and run.cpu else 0
    if (index_dir / "searchsvc.json").exists():
        out["size_mb"] = dir_size_mb(live_generation(index_dir))
        out["segments"] = segment_count(index_dir)
        out["files_mb"] = index_files(index_dir)
    return out


def _report(run: ChildRun, log: Path) -> dict[str, Any]:
    try:
        report = json.loads(run.stdout)
    except ValueError:
        raise BenchError(f"searchsvc index exited with {run.returncode} without a report; see {log}") from None
    if run.returncode != 0 or not isinstance(report, dict) or report.get("failed"):
        raise BenchError(f"searchsvc index exited with {run.returncode} (every document must index); see {log}")
    return report


def plain_run(source: Path, index_dir: Path, log: Path) -> dict[str, Any]:
    """bench.plain in a child process: the plain Whoosh index of the same text."""
    run = run_child([sys.executable, "-m", "bench.plain", str(source), str(index_dir)], env=_env(), log=log)
    if run.returncode != 0:
        raise BenchError(f"the plain Whoosh index failed ({run.returncode}); see {log}")
    out: dict[str, Any] = json.loads(run.stdout)
    out["seconds"] = round(run.wall, 2)
    out["cpu_seconds"] = round(run.cpu, 1)
    out["peak_rss_mb"] = round(run.peak_rss_mb, 1)
    out["docs_per_s"] = round(out["documents"] / run.wall, 1)
    out["words_per_s"] = round(out["words"] / run.wall)
    return out


# Whoosh's own files in a generation directory: the table of contents, segments (compound or not), postings,
# terms, columns and field lengths, the write lock. Anything else there is derived (the search kernel's arrays).
_WHOOSH_SUFFIXES = (".toc", ".seg", ".pst", ".trm", ".col", ".fln", ".vps", ".dcs", "_WRITELOCK")


def disk_breakdown(generation: Path) -> dict[str, Any]:
    """MB on disk of a live index generation: all of it, Whoosh's files, and the derived files beside them by
    kind (suffix, e.g. .npy), which deleting loses nothing."""
    whoosh = 0
    derived: dict[str, int] = {}
    for path in generation.rglob("*"):
        if not path.is_file():
            continue
        size = path.stat().st_size
        if path.name.endswith(_WHOOSH_SUFFIXES) or path.parent.name.endswith(".tmp"):
            whoosh += size
        else:
            kind = path.suffix or path.name
            derived[kind] = derived.get(kind, 0) + size
    return {
        "total_mb": round((whoosh + sum(derived.values())) / 1e6, 2),
        "whoosh_mb": round(whoosh / 1e6, 2),
        "derived_mb": round(sum(derived.values()) / 1e6, 2),
        "derived_by_kind_mb": {k: round(v / 1e6, 2) for k, v in sorted(derived.items(), key=lambda kv: -kv[1])},
    }
