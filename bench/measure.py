"""Measuring helpers: percentiles, child processes with their CPU time and peak RSS, memory of a pid, the
machine and the commit a run was made on."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation between closest ranks; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99 and mean of latencies in milliseconds (rounded for the report)."""
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 3),
        "p95": round(percentile(ms, 95), 3),
        "p99": round(percentile(ms, 99), 3),
        "mean": round(sum(ms) / len(ms), 3) if ms else math.nan,
    }


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b and not math.isnan(a) and not math.isnan(b) else math.nan


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: exit code, output, wall seconds, CPU seconds (its own and its reaped
    children's, e.g. a pool of extraction workers) and the peak RSS of the largest process in that tree."""

    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float
    peak_rss_mb: float


def run_child(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path = ROOT, log: Path | None = None
) -> ChildRun:
    """Run `args` to completion and collect its resource usage with wait4 (so each run is measured alone,
    unlike RUSAGE_CHILDREN, whose peak RSS is the maximum over every child this process ever had)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(args), cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(args)}\n{stdout}\n--- stderr\n{stderr}", encoding="utf-8")
    return ChildRun(
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kB on Linux
    )


def proc_memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process from /proc/<pid>/status: current (VmRSS), peak (VmHWM), anonymous
    (RssAnon) and file-backed (RssFile: mapped index files, shared with the page cache); and from smaps_rollup
    the proportional share (Pss), which counts a page mapped by two workers half in each."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            name = {
                "VmRSS": "rss_mb",
                "VmHWM": "peak_rss_mb",
                "RssAnon": "anon_mb",
                "RssFile": "file_mb",
            }.get(key)
            if name:
                out[name] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError):
        pass
    try:  # Pss: shared pages divided among the processes mapping them (each worker maps the same index files)
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss_mb"] = round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc/<pid>/stat), or nan."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc), e.g. gunicorn's workers."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(p) for p in task.read_text().split())
        except (OSError, ValueError):
            continue
    return sorted(set(found))


def dir_size_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6, 2)


def self_usage() -> dict[str, float]:
    """Peak RSS of this process and of its largest reaped child (RUSAGE_SELF / RUSAGE_CHILDREN), in MB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "self_peak_rss_mb": round(own.ru_maxrss / 1024, 1),
        "children_peak_rss_mb": round(kids.ru_maxrss / 1024, 1),
        "self_cpu_s": round(own.ru_utime + own.ru_stime, 1),
        "children_cpu_s": round(kids.ru_utime + kids.ru_stime, 1),
    }


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": memory,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def commit() -> dict[str, Any]:
    """HEAD and whether the working tree differs from it (read-only git commands)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head, "dirty": bool(status) if status is not None else None}


def searchsvc_command() -> list[str]:
    """How to run the `searchsvc` CLI with this interpreter (the venv's console script when there is one)."""
    script = Path(sys.executable).with_name("searchsvc")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from searchsvc.cli import main; main()"]


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan
