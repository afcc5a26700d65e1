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


def _project_columns(cols: np.ndarray) -> np.ndarray:
    """Project the rows of a column-major batch ``cols`` (J, M) in place; returns ``cols``."""
    J, M = cols.shape
    u = _sorted_columns(list(cols.copy()))
    top = u[J - 1] - 1.0  # running (sum of the k largest) - 1
    theta = top.copy()
    tmp = np.empty(M)
    for k in range(2, J + 1):
        top += u[J - k]
        np.multiply(top, 1.0 / k, out=tmp)
        np.maximum(theta, tmp, out=theta)
    cols -= theta
    np.maximum(cols, 0.0, out=cols)
    return cols


def _project_many(rows: np.ndarray) -> np.ndarray:
    """`project_simplex` for many rows (M, J), column by column (short reductions are slow in numpy)."""
    return np.ascontiguousarray(_project_columns(np.ascontiguousarray(rows.T)).T)


def project_batch(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`project_simplex` of a batch ``a`` (E, ..., J) of any float dtype, plus two by-products.

    Returns ``(x, row_sums, distance)``: shares (E, ..., J) float64, their row sums (E, ...) and the
    Euclidean distance between each env's action and its shares (E,). The work is done column-major.
    """
    E, J = a.shape[0], a.shape[-1]
    M = a.size // J
    src = np.ascontiguousarray(a).reshape(M, J)
    if M < _NETWORK_MIN_ROWS or J < 2:
        x = project_simplex(src)
        d = x - src
        return (x.reshape(a.shape), x.sum(-1).reshape(a.shape[:-1]),
                np.sqrt(np.einsum("ek,ek->e", d.reshape(E, -1), d.reshape(E, -1))))
    cols = np.empty((J, M))
    np.copyto(cols, src.T)  # one strided pass converts and transposes
    x = _project_columns(cols.copy())
    d = x - cols
    d *= d
    dist = np.sqrt(d.sum(0).reshape(E, -1).sum(-1))
    row_sums = x.sum(0).reshape(a.shape[:-1])
    return np.ascontiguousarray(x.T).reshape(a.shape), row_sums, dist


def project_simplex(a: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row ``a[..., :]`` onto the probability simplex (float64, same shape).

    Closed form (Held, Wolfe and Crowder 1974; Duchi et al. 2008): with ``u`` the row sorted in decreasing
    order, ``theta = max_k (sum(u[:k]) - 1) / k`` and ``x = max(a - theta, 0)`` (the maximum over k picks
    the support size, since (sum(u[:k]) - 1) / k rises up to it and falls after). O(J log J) per row, no
    data-dependent loop; large batches sort with a vectorised sorting network, column by column.
    """
    a = np.asarray(a, dtype=np.float64)
    J = a.shape[-1]
    rows = a.reshape(-1, J)
    if rows.shape[0] >= _NETWORK_MIN_ROWS and J >= 2:
        return _project_many(rows).reshape(a.shape)
    WT, c = _threshold_tables(J)
    theta = np.maximum.reduce(WT @ np.sort(rows, axis=-1).T - c, axis=0)  # (J, M): reduce across rows (fast)
    return np.maximum(rows - theta[:, None], 0.0).reshape(a.shape)


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
