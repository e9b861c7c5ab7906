"""The app tunes glibc's malloc (searchsvc/allocator.py): a kernel search's arrays, allocated and freed on a
gunicorn worker's thread, come from the arena instead of a fresh mmap each time (a page fault per 4 kB)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a fresh interpreter: optionally build the app (which should tune the allocator), then, on a new thread as
# gthread runs requests, allocate and free per-query-sized arrays and count that thread's minor page faults.
_PROBE = textwrap.dedent(
    """
    import resource, sys, threading
    import numpy as np
    if sys.argv[1] == "app":
        from searchsvc.app import create_app
        create_app({"index_dir": sys.argv[2]})
    out = []
    def search_like():
        rng = np.random.default_rng(7)
        def one():  # arrays of a search over 200,000 documents: masks, scores, matches of varying size
            mask = rng.random(200_000) < rng.uniform(0.01, 0.5)
            score = np.where(mask, 1.5, 0.0)
            docs = np.flatnonzero(mask)
            keys = np.sort(docs.astype(np.int64) << 32)
            return float(score[docs].sum()) + len(keys)
        for _ in range(5):  # warm
            one()
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        for _ in range(50):
            one()
        out.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
    t = threading.Thread(target=search_like)
    t.start(); t.join()
    print(out[0])
    """
)


def _faults(mode: str, index_dir: str) -> int:
    run = subprocess.run([sys.executable, "-c", _PROBE, mode, index_dir], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and RUSAGE_THREAD are Linux's")
def test_the_app_keeps_per_query_arrays_out_of_fresh_mmaps(tmp_path: object) -> None:
    untuned = _faults("plain", str(tmp_path))
    tuned = _faults("app", str(tmp_path))
    assert untuned > 1000, f"the probe should fault without the tuning (got {untuned}): is malloc glibc's?"
    assert tuned < untuned / 10, f"{tuned} faults for 50 searches with the tuning, {untuned} without"
