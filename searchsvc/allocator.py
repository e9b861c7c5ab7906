"""glibc's malloc tuned for the search kernel's per-query arrays.

A kernel search allocates numpy arrays of one value per document (scores, masks: 0.8 MB each at 100k documents)
and frees them when it answers. glibc serves allocations of 128 kB and more with a fresh mmap and returns the
memory when it is freed, unless its dynamic threshold has risen past the size; in a gunicorn worker the searches run
on the threads of the gthread pool, whose arenas kept mapping and unmapping those arrays: about 900 page faults a
search, and 6.8 against 3.9 ms p50 over HTTP at 104,205 articles (bench/: the same requests, `minflt` of the
worker). Fixing the thresholds where glibc's own dynamic rule would take them at most (mmap threshold 32 MB, its
maximum on 64-bit; trim threshold twice that) keeps the arrays in the arenas: no faults after the first searches.
The memory a worker keeps for reuse is bounded by its largest searches' arrays, not by the trim threshold alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("searchsvc")

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the dynamic threshold's ceiling
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what the dynamic rule sets beside it


def tune_allocator() -> bool:
    """Set the thresholds in this process (inherited by forked workers); False where malloc is not glibc's."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not ok:
        log.debug("mallopt refused the allocator's thresholds")
    return ok
