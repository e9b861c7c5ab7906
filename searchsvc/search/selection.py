"""Selecting the best values of an array: numpy's np.partition is slow here on large arrays (some 8 ns a value)
and pathological on arrays of many equal values (17,700 facet counts, nearly all zero: 1.8 ms)."""

from __future__ import annotations

import numpy as np

TOP_BLOCK = 64  # values a block of kth_largest's first pass


def kth_largest(values: np.ndarray, k: int) -> float:
    """The k-th largest of `values` (1 <= k <= len). The k-th largest of the blocks' maxima is a lower bound (k
    distinct values reach it), and most values fall below it, so np.partition runs over the few left (45,000
    scores: 380 -> 65 us; 17,700 facet counts, nearly all zero: 1.8 ms -> 36 us)."""
    blocks = len(values) // TOP_BLOCK
    if blocks >= 4 * k:
        maxima = values[: blocks * TOP_BLOCK].reshape(blocks, TOP_BLOCK).max(axis=1)
        values = values[values >= np.partition(maxima, blocks - k)[blocks - k]]
    return float(np.partition(values, len(values) - k)[len(values) - k])
