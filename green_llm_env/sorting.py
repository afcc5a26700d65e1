"""Sorting networks for the compiled simplex projection (`green_llm_env.kernels`): which pairs of the J entries
of a row to compare-and-swap, in order, so that the row ends sorted without a data-dependent branch."""

from __future__ import annotations

import numpy as np

__all__ = ["network", "sorting_network"]

# A 25-comparator sorting network for 9 inputs (depth 7); others come from Batcher's odd-even merge sort.
_NET9 = ((0, 3), (1, 7), (2, 5), (4, 8), (0, 7), (2, 4), (3, 8), (5, 6), (0, 2), (1, 3), (4, 5), (7, 8), (1, 4),
         (3, 6), (5, 7), (0, 1), (2, 4), (3, 5), (6, 8), (2, 3), (4, 5), (6, 7), (1, 2), (3, 4), (5, 6))
_NETS: dict[int, tuple[tuple[int, int], ...]] = {9: _NET9}
_NET_ARRAYS: dict[int, np.ndarray] = {}


def sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Comparators (i, j), i < j, of a sorting network for n wires (ascending: min to i, max to j).

    Batcher's odd-even merge sort on the next power of two, with comparators that touch the padded wires
    dropped (padding with +inf never moves, so the pruned network sorts n wires).
    """
    net = _NETS.get(n)
    if net is not None:
        return net
    size = 1
    while size < n:
        size *= 2
    out: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        out.append((i + j, i + j + k))
            k //= 2
        p *= 2
    net = _NETS[n] = tuple((i, j) for i, j in out if j < n)
    return net


def network(J: int) -> np.ndarray:
    """`sorting_network` of J wires as a read-only int64 array (C, 2), the form the kernels take."""
    arr = _NET_ARRAYS.get(J)
    if arr is None:
        arr = np.array(sorting_network(J), dtype=np.int64).reshape(-1, 2)
        arr.flags.writeable = False
        _NET_ARRAYS[J] = arr
    return arr
