"""Action -> allocation maps of GreenLLM-v0: pure, batch-first functions of a raw action.

An action is read as shares ``a[..., i, k, j]`` (or any ``(..., J)`` array of rows); each function maps
every row (one (i, k) pair, J DCs) onto the probability simplex {x >= 0, sum_j x_j = 1}:

- `project_simplex`: the exact Euclidean projection (closed form via the sorted-threshold rule), so a point
  already on the simplex maps to itself (up to one rounding of the row sum) and the map is idempotent.
- `softmax`: ``exp(a / temperature)`` normalised per row; never exactly sparse.

Both work on float64 and return float64 arrays of the input's shape.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ACTION_MODES", "project_batch", "project_simplex", "softmax", "sort_rows", "sorting_network",
           "to_allocation"]

ACTION_MODES = ("project", "softmax")
"""Names accepted by `to_allocation` (and the env's ``action_mode``)."""

# A 25-comparator sorting network for 9 inputs (depth 7); others come from Batcher's odd-even merge sort.
_NET9 = ((0, 3), (1, 7), (2, 5), (4, 8), (0, 7), (2, 4), (3, 8), (5, 6), (0, 2), (1, 3), (4, 5), (7, 8), (1, 4),
         (3, 6), (5, 7), (0, 1), (2, 4), (3, 5), (6, 8), (2, 3), (4, 5), (6, 7), (1, 2), (3, 4), (5, 6))
_TABLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_NETS: dict[int, tuple[tuple[int, int], ...]] = {9: _NET9}
_NETWORK_MIN_ROWS = 2048  # below this many rows one np.sort call is faster than a network


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


def _threshold_tables(J: int) -> tuple[np.ndarray, np.ndarray]:
    """(WT, c) with ``(WT @ u - c)[k-1]`` = ((sum of the k largest of u) - 1) / k, k = 1..J, for a column u
    sorted ascending; ``c`` has shape (J, 1)."""
    hit = _TABLES.get(J)
    if hit is None:
        k = np.arange(1, J + 1)
        W = np.where(np.arange(J)[:, None] >= J - k[None, :], 1.0 / k[None, :], 0.0)
        hit = _TABLES[J] = (np.ascontiguousarray(W.T), (1.0 / k)[:, None])
    return hit


def sort_rows(a: np.ndarray) -> np.ndarray:
    """Rows of ``a`` (M, J) sorted ascending (a vectorised sorting network when M is large)."""
    M, J = a.shape
    if M < _NETWORK_MIN_ROWS or J < 2:
        return np.sort(a, axis=-1)
    return np.stack(_sorted_columns(list(np.ascontiguousarray(a.T))), axis=-1)


def _sorted_columns(cols: list[np.ndarray]) -> list[np.ndarray]:
    """Apply the sorting network to a list of J column vectors (sorted in place; one spare buffer is recycled
    instead of allocating a new array per comparator)."""
    spare = np.empty_like(cols[0])
    for i, j in sorting_network(len(cols)):
        np.minimum(cols[i], cols[j], out=spare)
        np.maximum(cols[i], cols[j], out=cols[j])
        cols[i], spare = spare, cols[i]
    return cols


_BLOCK_ROWS = 8192  # rows per block of the column-major path: a block's columns stay in the L2 cache


def _threshold(u: list[np.ndarray], theta: np.ndarray, top: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """theta = max_k ((sum of the k largest of each column's u) - 1) / k, for sorted columns ``u`` (J of them,
    ascending), written into ``theta`` (``top``, ``tmp`` are scratch of the same length)."""
    J = len(u)
    np.subtract(u[J - 1], 1.0, out=top)  # running (sum of the k largest) - 1
    theta[...] = top
    for k in range(2, J + 1):
        top += u[J - k]
        np.multiply(top, 1.0 / k, out=tmp)
        np.maximum(theta, tmp, out=theta)
    return theta


def _project_blocks(src: np.ndarray, want_stats: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Project the rows of ``src`` (M, J) column-major, ``_BLOCK_ROWS`` rows at a time (each block is
    transposed, sorted with the network, thresholded and transposed back while it sits in cache).

    Returns ``(x (M, J) float64, row sums (M,), squared distance to src per row (M,))``; the last two are
    None unless ``want_stats``.
    """
    M, J = src.shape
    net = sorting_network(J)
    B = min(_BLOCK_ROWS, M)
    x = np.empty((M, J))
    rs = np.empty(M) if want_stats else None
    sq = np.empty(M) if want_stats else None
    cols_buf, x_buf, work_buf = np.empty((J, B)), np.empty((J, B)), np.empty((J + 1, B))
    theta_buf, top_buf, tmp_buf = np.empty(B), np.empty(B), np.empty(B)
    for b0 in range(0, M, B):
        b1 = min(b0 + B, M)
        n = b1 - b0
        cols = cols_buf[:, :n]
        np.copyto(cols, src[b0:b1].T)  # one strided pass converts and transposes
        work = work_buf[:, :n]
        np.copyto(work[:J], cols)
        u, spare = list(work[:J]), work[J]
        for i, j in net:  # the sorting network, one spare row recycled
            np.minimum(u[i], u[j], out=spare)
            np.maximum(u[i], u[j], out=u[j])
            u[i], spare = spare, u[i]
        theta = _threshold(u, theta_buf[:n], top_buf[:n], tmp_buf[:n])
        xc = x_buf[:, :n]
        np.subtract(cols, theta, out=xc)
        np.maximum(xc, 0.0, out=xc)
        if want_stats:
            d = work[:J]
            np.subtract(xc, cols, out=d)
            d *= d
            np.sum(d, axis=0, out=sq[b0:b1])
            np.sum(xc, axis=0, out=rs[b0:b1])
        x[b0:b1] = xc.T
    return x, rs, sq


def _project_columns(cols: np.ndarray) -> np.ndarray:
    """Project the rows of a column-major batch ``cols`` (J, M) in place; returns ``cols``."""
    J, M = cols.shape
    u = _sorted_columns(list(cols.copy()))
    cols -= _threshold(u, np.empty(M), np.empty(M), np.empty(M))
    np.maximum(cols, 0.0, out=cols)
    return cols


def _project_many(rows: np.ndarray) -> np.ndarray:
    """`project_simplex` for many rows (M, J), column-major in cache-sized blocks (short reductions are slow
    in numpy)."""
    return _project_blocks(rows, False)[0]


def project_batch(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`project_simplex` of a batch ``a`` (E, ..., J) of any float dtype, plus two by-products.

    Returns ``(x, row_sums, distance)``: shares (E, ..., J) float64, their row sums (E, ...) and the
    Euclidean distance between each env's action and its shares (E,). The work is done column-major, in
    blocks of rows that fit the cache.
    """
    E, J = a.shape[0], a.shape[-1]
    M = a.size // J
    src = np.ascontiguousarray(a).reshape(M, J)
    if M < _NETWORK_MIN_ROWS or J < 2:
        x = project_simplex(src)
        d = x - src
        return (x.reshape(a.shape), x.sum(-1).reshape(a.shape[:-1]),
                np.sqrt(np.einsum("ek,ek->e", d.reshape(E, -1), d.reshape(E, -1))))
    x, row_sums, sq = _project_blocks(src, True)
    return x.reshape(a.shape), row_sums.reshape(a.shape[:-1]), np.sqrt(sq.reshape(E, -1).sum(-1))


def project_simplex(a: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row ``a[..., :]`` onto the probability simplex (float64, same shape).

    Closed form (Held, Wolfe and Crowder 1974; Duchi et al. 2008): with ``u`` the row sorted in decreasing
    order, ``theta = max_k (sum(u[:k]) - 1) / k`` and ``x = max(a - theta, 0)`` (the maximum over k picks
    the support size, since (sum(u[:k]) - 1) / k rises up to it and falls after). O(J log J) per row, no
    data-dependent loop; large batches sort with a vectorised sorting network, column by column, in blocks
    of rows that fit the cache.
    """
    a = np.asarray(a, dtype=np.float64)
    J = a.shape[-1]
    rows = a.reshape(-1, J)
    if rows.shape[0] >= _NETWORK_MIN_ROWS and J >= 2:
        return _project_many(rows).reshape(a.shape)
    WT, c = _threshold_tables(J)
    u = rows.copy()
    u.sort(axis=-1)
    cand = WT @ u.T  # (J, M): reduce across rows (fast)
    cand -= c
    x = rows - np.maximum.reduce(cand, axis=0)[:, None]
    np.maximum(x, 0.0, out=x)
    return x.reshape(a.shape)


def softmax(a: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``a / temperature`` (float64, same shape); ``temperature`` > 0."""
    z = np.asarray(a, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def to_allocation(action: np.ndarray, mode: str = "project", temperature: float = 1.0) -> np.ndarray:
    """Map a raw action (rows of length J along the last axis) to shares on the simplex.

    Args:
        action: array ``(..., J)``; typically ``(..., I, K, J)`` or ``(..., I*K, J)``.
        mode: ``"project"`` (Euclidean projection) or ``"softmax"``.
        temperature: softmax temperature (> 0), ignored by ``"project"``.
    """
    if mode == "project":
        return project_simplex(action)
    if mode == "softmax":
        return softmax(action, temperature)
    raise ValueError(f"mode must be one of {ACTION_MODES}; got {mode!r}")
